package arm

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// uniqueString is ARM's uniqueString(): the arguments joined with "-",
// hashed with the 64-bit MurmurHash variant Azure Resource Manager uses,
// written as 13 characters of lowercase RFC 4648 base32. Checked against
// values Azure produced (armhash_test.go).
func uniqueString(parts ...string) string {
	h := murmur64([]byte(strings.Join(parts, "-")))
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 13)
	for i := range out {
		out[i] = alphabet[h>>59]
		h <<= 5
	}
	return string(out)
}

// murmur64 is the MurmurHash64 variant of Azure Resource Manager: two
// 32-bit lanes over 8-byte blocks, mixed into one 64-bit value.
func murmur64(b []byte) uint64 {
	const (
		c1 = 0xab0e9789 // 2869860233
		c2 = 0x239b961b // 597399067
		c3 = 0x85ebca6b
		c4 = 0xc2b2ae35
	)
	var h1, h2 uint32
	n := len(b)
	i := 0
	for ; i+8 <= n; i += 8 {
		k1 := binary.LittleEndian.Uint32(b[i:])
		k2 := binary.LittleEndian.Uint32(b[i+4:])
		k1 = bits.RotateLeft32(k1*c2, 15) * c1
		k2 = bits.RotateLeft32(k2*c1, 17) * c2
		h1 = bits.RotateLeft32(h1^k1, 19) + h2
		h1 = h1*5 + 0x561ccd1b
		h2 = bits.RotateLeft32(h2^k2, 13) + h1
		h2 = h2*5 + 0x0bcaa747
	}
	if rem := n - i; rem > 0 {
		var k1 uint32
		for j := min(rem, 4) - 1; j >= 0; j-- {
			k1 = k1<<8 | uint32(b[i+j])
		}
		h1 ^= bits.RotateLeft32(k1*c2, 15) * c1
		if rem > 4 {
			var k2 uint32
			for j := rem - 5; j >= 0; j-- {
				k2 = k2<<8 | uint32(b[i+4+j])
			}
			h2 ^= bits.RotateLeft32(k2*c1, 17) * c2
		}
	}
	h2 ^= uint32(n)
	h1 = (h1 ^ uint32(n)) + h2
	h2 += h1
	fmix := func(x uint32) uint32 {
		x = (x ^ x>>16) * c3
		x = (x ^ x>>13) * c4
		return x ^ x>>16
	}
	h1, h2 = fmix(h1), fmix(h2)
	h1 += h2
	h2 += h1
	return uint64(h2)<<32 | uint64(h1)
}

// armNamespace is the namespace of ARM's guid(): a name-based (version 5)
// UUID of the arguments joined with "-".
var armNamespace = [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}

func armGUID(parts ...string) string {
	h := sha1.New()
	h.Write(armNamespace[:])
	h.Write([]byte(strings.Join(parts, "-")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
