package template

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Byte-order marks a template saved on Windows starts with: Notepad and
// Windows PowerShell 5.1's Set-Content/Out-File -Encoding UTF8 write a
// UTF-8 BOM, Out-File's default (and "Unicode") UTF-16 LE with a BOM,
// "BigEndianUnicode" UTF-16 BE (Microsoft Learn, about_Character_Encoding:
// https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_character_encoding).
// RFC 8259 §8.1 lets a JSON parser ignore a leading UTF-8 BOM; ARM reads
// template files saved by these tools, so the app does too.
var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// DecodeText returns a template file's bytes as UTF-8 without a byte-order
// mark: a UTF-8 BOM is dropped, UTF-16 LE or BE with a BOM is decoded (as
// practice.Text decodes scripts). Text that is not what it says — invalid
// UTF-8, an odd UTF-16 length, an unpaired surrogate — is refused with the
// byte offset in the file as saved; it is never replaced by U+FFFD, which
// would change what goes to Image Builder without a word.
func DecodeText(raw []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(raw, bomUTF8):
		return checkUTF8(raw[len(bomUTF8):], len(bomUTF8))
	case bytes.HasPrefix(raw, bomUTF16LE):
		return decodeUTF16(raw[2:], true)
	case bytes.HasPrefix(raw, bomUTF16BE):
		return decodeUTF16(raw[2:], false)
	}
	return checkUTF8(raw, 0)
}

// checkUTF8 returns b when it is valid UTF-8, else an error naming the
// first invalid byte's offset (base is where b starts in the file).
func checkUTF8(b []byte, base int) ([]byte, error) {
	if utf8.Valid(b) {
		return b, nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return nil, fmt.Errorf("invalid UTF-8 at byte %d (0x%02X): save the file as UTF-8", base+i, b[i])
		}
		i += n
	}
	return b, nil // not reached: utf8.Valid said otherwise
}

// decodeUTF16 decodes UTF-16 after its BOM (2 bytes) to UTF-8.
func decodeUTF16(b []byte, le bool) ([]byte, error) {
	name := "UTF-16 BE"
	if le {
		name = "UTF-16 LE"
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("invalid %s: the file has an odd number of bytes (%d after the byte-order mark), the last at byte %d", name, len(b), len(b)+1)
	}
	unit := func(i int) uint16 {
		if le {
			return uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		return uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	n := len(b) / 2
	out := make([]byte, 0, len(b))
	for i := 0; i < n; i++ {
		u := unit(i)
		switch {
		case utf16.IsSurrogate(rune(u)):
			if u < 0xDC00 && i+1 < n {
				if v := unit(i + 1); v >= 0xDC00 && v <= 0xDFFF {
					out = utf8.AppendRune(out, utf16.DecodeRune(rune(u), rune(v)))
					i++
					continue
				}
			}
			return nil, fmt.Errorf("invalid %s at byte %d: an unpaired surrogate 0x%04X", name, 2+2*i, u)
		default:
			out = utf8.AppendRune(out, rune(u))
		}
	}
	return out, nil
}
