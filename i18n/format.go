package i18n

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Duration says how long a wait is the way a person would: "45 秒" / "45
// seconds" under a minute, whole minutes under an hour, hours and minutes
// above. It rounds up, so a person told "1 minute" is never refused again
// for waiting exactly that long. Chinese puts a space between the number
// and the unit (the common typesetting rule for mixing digits with Han).
func Duration(lang string, d time.Duration) string {
	secs := int((max(d, time.Second) + time.Second - 1) / time.Second)
	if secs < 60 {
		return count(lang, secs, "s")
	}
	mins := (secs + 59) / 60
	if mins < 60 {
		return count(lang, mins, "m")
	}
	h, m := mins/60, mins%60
	s := count(lang, h, "h")
	if m > 0 {
		s += " " + count(lang, m, "m")
	}
	return s
}

// Units are the forms of the units Duration uses ("s", "m", "h"): one and
// many, with %d for the number. static/countdown.js gets them to count a
// wait down in the same words.
func Units(lang string) map[string][2]string {
	if lang == EN {
		return map[string][2]string{"s": {"%d second", "%d seconds"}, "m": {"%d minute", "%d minutes"}, "h": {"%d hour", "%d hours"}}
	}
	return map[string][2]string{"s": {"%d 秒", "%d 秒"}, "m": {"%d 分钟", "%d 分钟"}, "h": {"%d 小时", "%d 小时"}}
}

// count is n with its unit: "3 分钟", "1 minute", "3 minutes".
func count(lang string, n int, unit string) string {
	forms := Units(lang)[unit]
	if n == 1 {
		return fmt.Sprintf(forms[0], n)
	}
	return fmt.Sprintf(forms[1], n)
}

// N is T for a message about n things, with n filled in: English takes the
// key's singular form (key + "_one") when n is 1; Chinese has one form.
func N(lang, key string, n int) string {
	if n == 1 && lang == EN {
		if s, ok := catalogue[EN][key+"_one"]; ok {
			return fmt.Sprintf(s, n)
		}
	}
	return fmt.Sprintf(T(lang, key), n)
}

// Join puts sentences together as each language writes them: Chinese full
// stops and commas are full-width and take no space after them, English
// sentences are separated by one.
func Join(lang string, parts ...string) string {
	sep := " "
	if lang != EN {
		sep = ""
	}
	var kept []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// Refusal is the whole message for a refused step, the same on a page and
// in the JSON API: the outcome's text, then when to try again or how many
// tries are left. ("0 left" after "the code no longer works" would only
// repeat it, so a count of zero is not shown.)
func Refusal(lang, key string, retryAfter time.Duration, attemptsLeft *int) string {
	return Join(lang, T(lang, key), RefusalDetail(lang, retryAfter, attemptsLeft))
}

// RefusalDetail is Refusal without the outcome's own text, for pages that
// show the two apart.
func RefusalDetail(lang string, retryAfter time.Duration, attemptsLeft *int) string {
	switch {
	case retryAfter > 0:
		return fmt.Sprintf(T(lang, "err_retry_in"), Duration(lang, retryAfter))
	case attemptsLeft != nil && *attemptsLeft > 0:
		return N(lang, "err_attempts_left", *attemptsLeft)
	}
	return ""
}

// Validity says how long something stays valid, rounded down (a QR code
// said to work "2 minutes" must not be swapped at 90 seconds): whole
// seconds under a minute, whole minutes under an hour, then hours and
// minutes. Waits round up instead (Duration).
func Validity(lang string, d time.Duration) string {
	secs := max(int(d/time.Second), 1)
	if secs < 60 {
		return count(lang, secs, "s")
	}
	if mins := secs / 60; mins < 60 {
		return count(lang, mins, "m")
	}
	h, m := secs/3600, secs%3600/60
	s := count(lang, h, "h")
	if m > 0 {
		s += " " + count(lang, m, "m")
	}
	return s
}

// Gap is what goes between two texts that a page sets side by side (a
// label and its value, a sentence and a link): a space in English; in
// Chinese one only between a Han character and a Latin letter or digit,
// none after full-width punctuation.
func Gap(lang, before, after string) string {
	if lang == EN {
		return " "
	}
	b, a := lastRune(before), firstRune(after)
	if isHan(b) && isLatin(a) || isLatin(b) && isHan(a) {
		return " "
	}
	return ""
}

func lastRune(s string) rune {
	r := []rune(strings.TrimSpace(s))
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1]
}

func firstRune(s string) rune {
	for _, r := range strings.TrimSpace(s) {
		return r
	}
	return 0
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isLatin(r rune) bool { return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '+' }
