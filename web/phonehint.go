package web

import (
	"fmt"

	"github.com/nyaruka/phonenumbers/v2"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"wxcas/i18n"
	"wxcas/otp"
)

// phonePlaceholder is an example mobile number of region as people there
// write it ("131 2345 6789" for CN): what typing without a country code
// looks like. NewPages works it out once.
func phonePlaceholder(region string) string {
	if n := phonenumbers.GetExampleNumberForTypeInRegion(regionOr(region), phonenumbers.MOBILE); n != nil {
		return phonenumbers.Format(n, phonenumbers.NATIONAL)
	}
	return "+86 131 2345 6789"
}

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
