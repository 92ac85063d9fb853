package okta

import "fmt"

// MaxIDLength is the longest ID accepted in a path. Okta's own IDs are 20
// characters, but a custom OAuth client_id may have up to 100.
const MaxIDLength = 100

// ValidateID reports whether value can be used as an Okta ID in a request
// path: 1 to MaxIDLength letters, digits, '-' or '_'. Anything else is
// rejected before a request is sent, so no caller-supplied string can change
// the path Okta sees. name labels the value in the error.
func ValidateID(name, value string) error {
	if value == "" {
		return &InvalidIDError{Name: name, Reason: "must not be empty"}
	}
	if len(value) > MaxIDLength {
		return &InvalidIDError{Name: name, Reason: fmt.Sprintf("longer than %d characters", MaxIDLength)}
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return &InvalidIDError{Name: name, Reason: "may contain only letters, digits, '-' and '_'"}
		}
	}
	return nil
}

// InvalidIDError reports an ID that ValidateID rejected. Its message quotes
// the name, never the value, which may be hostile or very long.
type InvalidIDError struct {
	Name   string
	Reason string
}

func (e *InvalidIDError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Name, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true for invalid IDs.
func (e *InvalidIDError) Is(target error) bool { return target == ErrInvalidArgument }
