package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/i18n"
	"wxcas/journey"
)

// Apps show the message to people, so no code the API can answer may fall
// back to showing itself: neither its own codes nor any login outcome as
// the API names it. i18n's own test holds both languages to the same keys.
func TestEveryCodeIsCatalogued(t *testing.T) {
	codes := []string{CodeNoCode} // verify's name for wrong_step
	for code := range ownStatus {
		codes = append(codes, code)
	}
	for _, c := range journey.Codes() {
		codes = append(codes, apiCode(c))
	}
	for _, code := range codes {
		require.True(t, i18n.Has(code), "no message for %q", code)
		if code != CodeInternal {
			require.NotEqual(t, 500, statusOf(code), "no status for %q", code)
		}
	}
}
