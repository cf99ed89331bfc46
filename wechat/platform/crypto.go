// Package platform receives what WeChat pushes to a third-party platform
// (开放平台第三方平台, "component"): the component_verify_ticket every ten
// minutes, and the authorized / updateauthorized / unauthorized events of the
// Official Accounts that grant or withdraw the platform. The pushes arrive at
// the platform's "authorization event URL" in WeChat's "secure mode": signed
// with the platform's Token and AES-encrypted with its EncodingAESKey.
//
// The newest ticket is what the platform needs to get a component access
// token; it is kept in the database (sealed, see SQLStore) so that every
// instance can use it, and an older or replayed push never replaces a newer
// one.
package platform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// encodingAESKeyLen is the length WeChat gives every EncodingAESKey: 43
// base64 characters, 32 bytes once the missing "=" is added.
const encodingAESKeyLen = 43

// MaxEncryptLen bounds the base64 text Decrypt accepts. WeChat's pushes are
// well under a kilobyte; the bound keeps a hostile body from costing more.
const MaxEncryptLen = 64 << 10

// padBlock is the block WeChat pads to with PKCS#7: 32 bytes, not the AES
// block of 16, so a pad byte runs from 1 to 32.
const padBlock = 32

// Plaintext layout: 16 random bytes, a 4-byte big-endian message length, the
// message, then the appid the message is for.
const (
	randomLen = 16
	headerLen = randomLen + 4
)

// Decrypt's errors. Their text never contains the key, the token or any part
// of the message.
var (
	// ErrMalformed: the text is not a ciphertext of the scheme under this
	// key (bad base64, size, padding or length field).
	ErrMalformed = errors.New("platform: malformed encrypted message")
	// ErrAppIDMismatch: the message decrypts but names another appid.
	ErrAppIDMismatch = errors.New("platform: encrypted message is for another appid")
)

// Crypter checks and opens messages WeChat sends in secure mode to one appid
// (here: one third-party platform). wxcas only receives, so there is no
// encryption side. A Crypter is safe for concurrent use.
type Crypter struct {
	token string
	appID string
	block cipher.Block
	iv    []byte
}

// NewCrypter returns a Crypter for the Token and EncodingAESKey configured on
// the platform's page, and the platform's appid. Its errors name what is
// wrong without echoing the token or the key.
func NewCrypter(token, encodingAESKey, appID string) (*Crypter, error) {
	if token == "" {
		return nil, errors.New("platform: Token is empty")
	}
	if appID == "" {
		return nil, errors.New("platform: appid is empty")
	}
	if n := len(encodingAESKey); n != encodingAESKeyLen {
		return nil, fmt.Errorf("platform: EncodingAESKey must be %d characters, got %d", encodingAESKeyLen, n)
	}
	// Not Strict: WeChat's keys are 43 random characters, so the two bits
	// the last one carries past the 32 bytes are often not zero.
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		// The decoder's error gives an offset into the key: left out.
		return nil, errors.New("platform: EncodingAESKey is not 43 characters of base64 (A-Z, a-z, 0-9, +, /)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	// The scheme takes the IV from the key: the first 16 bytes.
	return &Crypter{token: token, appID: appID, block: block, iv: key[:aes.BlockSize]}, nil
}

// Signature is the msg_signature WeChat sends with a message: the hex SHA-1
// of the Token, timestamp, nonce and Encrypt text, sorted as strings and
// concatenated.
func (c *Crypter) Signature(timestamp, nonce, encrypt string) string {
	parts := []string{c.token, timestamp, nonce, encrypt}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether msgSignature signs the other three with this
// Crypter's Token, in constant time, so that timing reveals nothing about
// the expected signature.
func (c *Crypter) Verify(timestamp, nonce, encrypt, msgSignature string) bool {
	want := c.Signature(timestamp, nonce, encrypt)
	return subtle.ConstantTimeCompare([]byte(want), []byte(msgSignature)) == 1
}

// Decrypt opens an Encrypt text and returns the message in it (the inner
// XML). It checks the padding, the length field and that the trailing appid
// is this Crypter's; any failure is ErrMalformed or ErrAppIDMismatch, never
// a panic. Call it only after Verify: CBC without a MAC must not decrypt
// unauthenticated input for whoever asks.
func (c *Crypter) Decrypt(encrypt string) ([]byte, error) {
	if encrypt == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(encrypt) > MaxEncryptLen {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxEncryptLen)
	}
	buf, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrMalformed)
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrMalformed, len(buf))
	}
	// A fresh decrypter each time: cipher.BlockMode keeps state.
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(buf, buf)

	plain, err := unpad(buf)
	if err != nil {
		return nil, err
	}
	if len(plain) < headerLen {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	// Compared as uint64 so that a huge length cannot wrap around on a
	// 32-bit int.
	n := uint64(binary.BigEndian.Uint32(plain[randomLen:headerLen]))
	if n == 0 || n > uint64(len(plain)-headerLen) {
		return nil, fmt.Errorf("%w: length field out of bounds", ErrMalformed)
	}
	msg := plain[headerLen : headerLen+int(n)]
	appID := plain[headerLen+int(n):]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, ErrAppIDMismatch
	}
	return msg, nil
}

// unpad strips PKCS#7 padding to a 32-byte block, checking every pad byte.
func unpad(b []byte) ([]byte, error) {
	p := int(b[len(b)-1])
	if p < 1 || p > padBlock || p > len(b) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	// The pad bytes are compared without an early exit; what little this
	// hides is a courtesy, since Verify comes first.
	var bad byte
	for _, v := range b[len(b)-p:] {
		bad |= v ^ byte(p)
	}
	if bad != 0 {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	return b[:len(b)-p], nil
}
