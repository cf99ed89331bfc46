package platform_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/platform"
)

// This file's own implementation of WeChat's secure mode, the sending side,
// written from the description (wechat-api.md §5.3) and independent of the
// package: the vectors the package is tested against do not come from the
// code under test.

// testKey is an EncodingAESKey: 43 characters whose last one carries two
// non-zero bits past the 32 bytes, as random keys do.
const (
	testToken = "tOk3nForTests"
	testKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFz"
	testAppID = "wxcomponent00000001"
)

// aesKey decodes an EncodingAESKey as WeChat does: base64 of key + "=".
func aesKey(t testing.TB, encodingAESKey string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(k) != 32 {
		t.Fatalf("test key %q: %v (%d bytes)", encodingAESKey, err, len(k))
	}
	return k
}

// pad32 pads b with PKCS#7 to a multiple of 32 bytes (always 1..32 bytes).
func pad32(b []byte) []byte {
	n := 32 - len(b)%32
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

// rawEncrypt encrypts b (a whole number of AES blocks, already padded or
// deliberately not) with the scheme's cipher: AES-256-CBC, IV = first 16
// key bytes; base64.
func rawEncrypt(t testing.TB, encodingAESKey string, b []byte) string {
	t.Helper()
	key := aesKey(t, encodingAESKey)
	if len(b)%aes.BlockSize != 0 {
		t.Fatalf("rawEncrypt: %d bytes", len(b))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(b))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, b)
	return base64.StdEncoding.EncodeToString(out)
}

// frame lays out a plaintext: 16 random bytes, the message length (4 bytes,
// big-endian), the message, the appid.
func frame(msg []byte, appID string) []byte {
	b := make([]byte, 16, 20+len(msg)+len(appID))
	_, _ = rand.Read(b)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	return append(b, appID...)
}

// wxEncrypt is the whole sending side: frame, pad, encrypt.
func wxEncrypt(t testing.TB, encodingAESKey, appID string, msg []byte) string {
	t.Helper()
	return rawEncrypt(t, encodingAESKey, pad32(frame(msg, appID)))
}

// wxSign is msg_signature: hex SHA-1 of the four strings, sorted.
func wxSign(token, timestamp, nonce, encrypt string) string {
	s := []string{token, timestamp, nonce, encrypt}
	slices.Sort(s)
	h := sha1.New()
	for _, p := range s {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newCrypter(t testing.TB) *platform.Crypter {
	t.Helper()
	c, err := platform.NewCrypter(testToken, testKey, testAppID)
	require.NoError(t, err)
	return c
}

// TestPublishedSample checks the package against the sample published with
// WeChat's message-encryption libraries (WXBizMsgCrypt, the C# Sample.cs;
// the same values are worked through step by step in the WeCom callback
// documentation): a message pushed with msg_signature
// 477715d1...f3e6, timestamp 1409659813, nonce 1372623149. The scheme is
// the same for Official Accounts, platforms and WeCom; the trailing id is the
// receiver's appid (there, a corp id).
func TestPublishedSample(t *testing.T) {
	const (
		token     = "QDG6eK"
		key       = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
		appID     = "wx5823bf96d3bd56c7"
		sig       = "477715d11cdb4164915debcba66cb864d751f3e6"
		timestamp = "1409659813"
		nonce     = "1372623149"
		encrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	)
	c, err := platform.NewCrypter(token, key, appID)
	require.NoError(t, err)
	require.Equal(t, sig, c.Signature(timestamp, nonce, encrypt))
	require.Equal(t, sig, wxSign(token, timestamp, nonce, encrypt), "the test's own signer agrees")
	require.True(t, c.Verify(timestamp, nonce, encrypt, sig))

	msg, err := c.Decrypt(encrypt)
	require.NoError(t, err)
	// The documentation shows the decrypted message (indented there).
	var m struct {
		ToUserName, FromUserName, CreateTime, MsgType, Content, MsgId, AgentID string
	}
	require.NoError(t, xml.Unmarshal(msg, &m), "%s", msg)
	require.Equal(t, "wx5823bf96d3bd56c7", m.ToUserName)
	require.Equal(t, "mycreate", m.FromUserName)
	require.Equal(t, "1409659813", m.CreateTime)
	require.Equal(t, "text", m.MsgType)
	require.Equal(t, "hello", m.Content)
	require.Equal(t, "4561255354251345929", m.MsgId)
	require.Equal(t, "218", m.AgentID)

	// The same ciphertext names its appid: another Crypter refuses it.
	other, err := platform.NewCrypter(token, key, "wx0000000000000000")
	require.NoError(t, err)
	_, err = other.Decrypt(encrypt)
	require.ErrorIs(t, err, platform.ErrAppIDMismatch)
}

func TestNewCrypter(t *testing.T) {
	_, err := platform.NewCrypter(testToken, testKey, testAppID)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, token, key, appID, want string
	}{
		{"empty token", "", testKey, testAppID, "Token is empty"},
		{"empty appid", testToken, testKey, "", "appid is empty"},
		{"key too short", testToken, testKey[:42], testAppID, "must be 43 characters, got 42"},
		{"key too long", testToken, testKey + "A", testAppID, "must be 43 characters, got 44"},
		{"key with the padding", testToken, testKey[:42] + "=", testAppID, "not 43 characters of base64"},
		{"key not base64", testToken, testKey[:40] + "-_!", testAppID, "not 43 characters of base64"},
		{"key empty", testToken, "", testAppID, "must be 43 characters, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := platform.NewCrypter(tc.token, tc.key, tc.appID)
			require.ErrorContains(t, err, tc.want)
			if tc.key != "" {
				require.NotContains(t, err.Error(), tc.key, "the error never echoes the key")
				require.NotContains(t, err.Error(), tc.key[:20])
			}
			require.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestSignature(t *testing.T) {
	c := newCrypter(t)
	enc := wxEncrypt(t, testKey, testAppID, []byte("<xml/>"))
	sig := wxSign(testToken, "1700000000", "nonce1", enc)
	require.Equal(t, sig, c.Signature("1700000000", "nonce1", enc))
	require.True(t, c.Verify("1700000000", "nonce1", enc, sig))

	for name, args := range map[string][4]string{
		"other timestamp": {"1700000001", "nonce1", enc, sig},
		"other nonce":     {"1700000000", "nonce2", enc, sig},
		"other encrypt":   {"1700000000", "nonce1", enc + "x", sig},
		"upper case":      {"1700000000", "nonce1", enc, strings.ToUpper(sig)},
		"truncated":       {"1700000000", "nonce1", enc, sig[:39]},
		"empty":           {"1700000000", "nonce1", enc, ""},
		"another token":   {"1700000000", "nonce1", enc, wxSign("other", "1700000000", "nonce1", enc)},
	} {
		require.False(t, c.Verify(args[0], args[1], args[2], args[3]), name)
	}
}

// TestDecryptRoundTrip covers every padding length (1..32) and messages in
// UTF-8.
func TestDecryptRoundTrip(t *testing.T) {
	c := newCrypter(t)
	for n := 1; n <= 100; n++ {
		msg := []byte(strings.Repeat("x", n))
		got, err := c.Decrypt(wxEncrypt(t, testKey, testAppID, msg))
		require.NoError(t, err, "length %d", n)
		require.Equal(t, msg, got)
	}
	msg := []byte("<xml><Content><![CDATA[中文消息，按字节计长]]></Content></xml>")
	got, err := c.Decrypt(wxEncrypt(t, testKey, testAppID, msg))
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

func TestDecryptRefuses(t *testing.T) {
	c := newCrypter(t)
	msg := []byte("<xml><A>1</A></xml>")
	good := frame(msg, testAppID)

	// withPad pads b to 32 bytes with the given pad bytes written by hand.
	withPad := func(b []byte, pad []byte) []byte {
		out := append(slices.Clone(b), pad...)
		if len(out)%16 != 0 {
			panic(fmt.Sprintf("test bug: %d bytes", len(out)))
		}
		return out
	}
	lenField := func(n uint32) []byte {
		b := slices.Clone(good)
		binary.BigEndian.PutUint32(b[16:20], n)
		return pad32(b)
	}
	// good is 16+4+19+19 = 58 bytes: 6 bytes of padding to 64.
	require.Len(t, good, 58)

	for _, tc := range []struct {
		name    string
		encrypt string
		want    error
	}{
		{"empty", "", platform.ErrMalformed},
		{"not base64", "!!!not base64!!!", platform.ErrMalformed},
		{"base64 of nothing", "====", platform.ErrMalformed},
		{"not whole blocks", base64.StdEncoding.EncodeToString(make([]byte, 33)), platform.ErrMalformed},
		{"one byte", base64.StdEncoding.EncodeToString([]byte{1}), platform.ErrMalformed},
		{"truncated ciphertext", wxEncrypt(t, testKey, testAppID, msg)[:40], platform.ErrMalformed},
		{"too long", strings.Repeat("A", platform.MaxEncryptLen+4), platform.ErrMalformed},
		{"garbage blocks", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 64)), platform.ErrMalformed},
		{"another key", wxEncrypt(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq", testAppID, msg), platform.ErrMalformed},
		{"pad byte 0", rawEncrypt(t, testKey, withPad(good, []byte{6, 6, 6, 6, 6, 0})), platform.ErrMalformed},
		{"pad byte 33", rawEncrypt(t, testKey, withPad(good, []byte{6, 6, 6, 6, 6, 33})), platform.ErrMalformed},
		{"pad bytes disagree", rawEncrypt(t, testKey, withPad(good, []byte{6, 6, 7, 6, 6, 6})), platform.ErrMalformed},
		{"pad longer than the data", rawEncrypt(t, testKey, bytes.Repeat([]byte{32}, 16)), platform.ErrMalformed},
		{"pad of 16 is valid, the appid is cut short", rawEncrypt(t, testKey, withPad(good[:48], bytes.Repeat([]byte{16}, 16))), platform.ErrAppIDMismatch},
		{"shorter than the header", rawEncrypt(t, testKey, pad32(good[:19])), platform.ErrMalformed},
		{"length field past the end", rawEncrypt(t, testKey, lenField(uint32(len(msg)+len(testAppID)+1))), platform.ErrMalformed},
		{"length field huge", rawEncrypt(t, testKey, lenField(0xffffffff)), platform.ErrMalformed},
		{"length field zero", rawEncrypt(t, testKey, lenField(0)), platform.ErrMalformed},
		{"length field one short", rawEncrypt(t, testKey, lenField(uint32(len(msg)-1))), platform.ErrAppIDMismatch},
		{"length field one long", rawEncrypt(t, testKey, lenField(uint32(len(msg)+1))), platform.ErrAppIDMismatch},
		{"another appid", wxEncrypt(t, testKey, "wxcomponent00000002", msg), platform.ErrAppIDMismatch},
		{"appid prefix only", wxEncrypt(t, testKey, testAppID[:10], msg), platform.ErrAppIDMismatch},
		{"appid with more", wxEncrypt(t, testKey, testAppID+"0", msg), platform.ErrAppIDMismatch},
		{"no appid", wxEncrypt(t, testKey, "", msg), platform.ErrAppIDMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decrypt(tc.encrypt)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, got)
			require.NotContains(t, err.Error(), testKey)
			require.NotContains(t, err.Error(), "<A>")
		})
	}
}

// FuzzDecrypt: no input panics Decrypt. The second argument is encrypted
// (zero-filled to whole blocks) before it is decrypted, so the fuzzer also
// reaches the padding and length checks with plaintexts of its choice.
func FuzzDecrypt(f *testing.F) {
	c := newCrypter(f)
	f.Add(wxEncrypt(f, testKey, testAppID, []byte("<xml/>")), pad32(frame([]byte("<xml/>"), testAppID)))
	f.Add("", []byte{})
	f.Add("AAAA", bytes.Repeat([]byte{32}, 32))
	f.Add("////////////////////////////////////////////", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, encrypt string, plain []byte) {
		if msg, err := c.Decrypt(encrypt); err == nil && len(msg) == 0 {
			t.Fatal("an empty message decrypted")
		}
		if len(plain) > 4096 {
			return
		}
		if r := len(plain) % 16; r != 0 {
			plain = append(plain, make([]byte, 16-r)...)
		}
		if len(plain) == 0 {
			return
		}
		msg, err := c.Decrypt(rawEncrypt(t, testKey, plain))
		if err == nil && !bytes.Contains(plain, msg) {
			t.Fatalf("decrypted a message that is not in the plaintext: %q", msg)
		}
	})
}
