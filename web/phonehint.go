package web

import (
	"fmt"
	"strings"

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
// region as they are; others with their country code, as an example shows,
// unless allowed (otp.allowed_regions; none: any) leaves only the default
// region. Mainland China is named as such, since that is what people there
// call it. NewPages works it out once per language.
func phoneHint(lang, region string, allowed []string) string {
	region = regionOr(region)
	example, others := otherExample(region, allowed)
	if region == "CN" {
		if !others {
			return i18n.T(lang, "phone_hint_cn_only")
		}
		return fmt.Sprintf(i18n.T(lang, "phone_hint_cn"), example)
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
	code := phonenumbers.GetCountryCodeForRegion(region)
	if !others {
		return fmt.Sprintf(i18n.T(lang, "phone_hint_other_only"), name, code)
	}
	return fmt.Sprintf(i18n.T(lang, "phone_hint_other"), name, code, example)
}

// otherExample is an example number, with its country code, of a region
// other than home whose numbers get codes: the first allowed one, else
// Hong Kong's (mainland China's from elsewhere), the nearest abroad for
// most of wxcas's people. others is false when only home is allowed.
func otherExample(home string, allowed []string) (example string, others bool) {
	pick := "HK"
	if home == pick {
		pick = "CN"
	}
	if len(allowed) > 0 {
		pick = ""
		for _, r := range allowed {
			if r = strings.ToUpper(r); r != home {
				pick = r
				break
			}
		}
		if pick == "" {
			return "", false
		}
	}
	example = fmt.Sprintf("+%d", phonenumbers.GetCountryCodeForRegion(pick))
	if n := phonenumbers.GetExampleNumberForTypeInRegion(pick, phonenumbers.MOBILE); n != nil {
		example = phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	}
	return unbreakable.Replace(example), true
}

// unbreakable keeps a number on one line: a narrow screen must not wrap
// inside it ("+852 5123" | "4567").
var unbreakable = strings.NewReplacer(" ", "\u00a0", "-", "\u2011")

func regionOr(region string) string {
	if region == "" {
		return otp.DefaultRegion
	}
	return region
}
