package oktafake

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
)

// ErrorBody is Okta's error answer.
type ErrorBody struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []ErrorCause `json:"errorCauses"`
}

// ErrorCause is one entry of ErrorBody.ErrorCauses.
type ErrorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

// writeError writes Okta's error body. errorLink equals errorCode, as Okta
// currently does.
func writeError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	body := ErrorBody{
		ErrorCode:    code,
		ErrorSummary: summary,
		ErrorLink:    code,
		ErrorID:      "oae" + randomID(22),
		ErrorCauses:  []ErrorCause{},
	}
	for _, c := range causes {
		body.ErrorCauses = append(body.ErrorCauses, ErrorCause{ErrorSummary: c})
	}
	writeJSON(w, status, body)
}

func writeValidationError(w http.ResponseWriter, causes ...string) {
	writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: "+firstOr(causes, "request"), causes...)
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; this is a bug in the fake.
		panic("oktafake: marshal response: " + err.Error())
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns n random base62 characters. IDs only need to be unique,
// not secret; access tokens use crypto/rand.
func randomID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}

// newOktaID returns an ID shaped like Okta's: a 3-character type prefix
// ("00u", "0oa", "oar") and 17 base62 characters.
func newOktaID(prefix string) string { return prefix + randomID(20-len(prefix)) }

func newRequestID() string { return randomID(27) }
