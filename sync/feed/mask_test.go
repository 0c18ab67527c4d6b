package feed_test

import (
	"testing"

	"github.com/tillguard/tillguard/sync/feed"
)

func TestMask(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{feed.MaskName("王小明"), "王**"},
		{feed.MaskName("张"), "张"},
		{feed.MaskCardNo("A12345678"), "A1234****"},
		{feed.MaskID("330106199001011234"), "3301**********1234"},
		{feed.MaskID("123"), "***"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
