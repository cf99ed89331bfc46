package web

import (
	"fmt"
	"sync"

	"github.com/nyaruka/phonenumbers/v2"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"wxcas/i18n"
	"wxcas/otp"
)

// phonePlaceholder is an example mobile number of region as people there
// write it ("138 0013 8000" for CN): what typing without a country code
// looks like.
func phonePlaceholder(region string) string {
	region = regionOr(region)
	examples.Lock()
	defer examples.Unlock()
	if s, ok := examples.m[region]; ok {
		return s
	}
	s := "+86 138 0013 8000"
	if n := phonenumbers.GetExampleNumberForTypeInRegion(region, phonenumbers.MOBILE); n != nil {
		s = phonenumbers.Format(n, phonenumbers.NATIONAL)
	}
	examples.m[region] = s
	return s
}

// examples caches phonePlaceholder: the library formats on every call.
var examples = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// phoneHint says which numbers a phone field takes: those of the default
// region as they are, any other with its country code. Mainland China is
// named as such, since that is what people there call it.
func phoneHint(lang, region string) string {
	region = regionOr(region)
	if region == "CN" {
		return i18n.T(lang, "phone_hint_cn")
	}
	name := region
	if r, err := language.ParseRegion(region); err == nil {
		tag := language.SimplifiedChinese
		if lang == i18n.EN {
			tag = language.English
		}
		if n := display.Regions(tag).Name(r); n != "" {
			name = n
		}
	}
	return fmt.Sprintf(i18n.T(lang, "phone_hint_other"), name, phonenumbers.GetCountryCodeForRegion(region))
}

func regionOr(region string) string {
	if region == "" {
		return otp.DefaultRegion
	}
	return region
}
