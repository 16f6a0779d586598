package samlsp

import (
	"fmt"
	"testing"
)

// BenchmarkValidateResponse measures the full check of one response
// (safety scan, round-trip check, signatures, decryption, conditions).
func BenchmarkValidateResponse(b *testing.B) {
	for _, enc := range []bool{false, true} {
		b.Run(fmt.Sprintf("encrypted=%v", enc), func(b *testing.B) {
			f := newFixture(&testing.T{})
			f.t = &testing.T{}
			s := f.spec()
			s.Encrypt = enc
			xml := f.build(s, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.sp.validateResponse(xml, f.now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
