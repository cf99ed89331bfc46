package web

import (
	"testing"

	"github.com/gorilla/securecookie"
	"github.com/stretchr/testify/require"
)

func TestStringCookies(t *testing.T) {
	values := map[any]any{"JOURNEYID": "nonce|https://a.example/?x=1|1700000000", "n": `{"f":"phone"}`}
	var c stringCookies

	b, err := c.Serialize(values)
	require.NoError(t, err)
	require.Equal(t, byte('{'), b[0])
	got := map[any]any{}
	require.NoError(t, c.Deserialize(b, &got))
	require.Equal(t, values, got, "round trip")

	// A cookie an earlier release wrote with gob is still read.
	old, err := securecookie.GobEncoder{}.Serialize(values)
	require.NoError(t, err)
	require.Equal(t, byte(0x0d), old[0])
	got = map[any]any{}
	require.NoError(t, c.Deserialize(old, &got))
	require.Equal(t, values, got, "gob")

	for _, bad := range []map[any]any{{"k": 1}, {2: "v"}} {
		_, err := c.Serialize(bad)
		require.ErrorIs(t, err, errCookieValue)
	}
	require.Error(t, c.Deserialize([]byte(`{"k":1}`), &got), "a value that is not a string")

	// And through securecookie, signed and encrypted, as the stores use it.
	codec := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32))
	codec.SetSerializer(c)
	enc, err := codec.Encode("wxcas_journeys", values)
	require.NoError(t, err)
	got = map[any]any{}
	require.NoError(t, codec.Decode("wxcas_journeys", enc, &got))
	require.Equal(t, values, got)
}
