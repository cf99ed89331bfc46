package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/i18n"
)

// Apps show the message to people, so no code may fall back to showing
// itself. i18n's own test holds both languages to the same keys.
func TestEveryCodeIsCatalogued(t *testing.T) {
	for code := range statusOf {
		require.True(t, i18n.Has(code), "no message for %q", code)
	}
}
