package oktahook

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzAuthenticate checks the hook's authentication with arbitrary
// headers: a call is let in only when the configured header carries the
// current or the previous secret exactly (no prefix, suffix, case change or
// other header will do), and no error quotes what was sent or expected.
func FuzzAuthenticate(f *testing.F) {
	for _, s := range [][4]string{
		{"Authorization", secretA, "", ""},
		{"authorization", secretA, "x-okta-verification-challenge", "c"},
		{"AUTHORIZATION", secretB, "", ""},
		{"Authorization", strings.ToLower(secretA), "", ""},
		{"Authorization", secretA + " ", "", ""},
		{"Authorization", "Bearer " + secretA, "", ""},
		{"Authorization", "", "authorization", secretA},
		{"X-Api-Key", secretA, "Authorization", "wrong"},
		{"Authorization", secretA[:len(secretA)-1], "", ""},
		{"Authorization", "\x00" + secretA, "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, name, value, otherName, otherValue string) {
		headers := map[string]string{name: value}
		if otherName != name {
			headers[otherName] = otherValue
		}
		a := NewAuthenticator(DefaultAuthHeader, newFakeSecrets(secretA, secretB))
		err := a.Authenticate(context.Background(), headers)

		sent, _ := Header(headers, DefaultAuthHeader)
		if err == nil && sent != secretA && sent != secretB {
			t.Fatalf("authenticated with %q: %q", DefaultAuthHeader, sent)
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("the secrets could be read, yet the error is not ErrUnauthenticated: %v", err)
		}
		// The one header that names the configured one, holding a secret,
		// must get in.
		matching := 0
		for k := range headers {
			if strings.EqualFold(k, DefaultAuthHeader) {
				matching++
			}
		}
		if matching == 1 && (sent == secretA || sent == secretB) && err != nil {
			t.Fatalf("the right secret was refused: %v", err)
		}
		// The refusal says nothing but that: it quotes neither what was
		// sent nor what was expected.
		if err != nil && err.Error() != ErrUnauthenticated.Error() {
			t.Fatalf("the refusal says more than %q: %v", ErrUnauthenticated, err)
		}
	})
}
