package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/envconf"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Defaults and bounds of the configuration.
const (
	DefaultLookback = time.Hour
	DefaultMaxPages = 10
	DefaultPageSize = okta.MaxLogLimit
	// MaxPagesLimit bounds RECONCILE_MAX_PAGES: a run never takes more than
	// this share of the System Log bucket (120 calls a minute on Workforce
	// orgs, half of it per token by default).
	MaxPagesLimit = 50
	// maxLookback is Okta's System Log retention (90 days): since further
	// back is refused.
	maxLookback = 90 * 24 * time.Hour
)

// Environment variable names.
const (
	EnvQueueURL   = "REVOCATION_QUEUE_URL"
	EnvTable      = "DEDUPE_TABLE_NAME"
	EnvDedupeTTL  = "DEDUPE_TTL"
	EnvEventTypes = "REVOKE_ON_EVENTS"
	EnvLookback   = "RECONCILE_LOOKBACK"
	EnvMaxPages   = "RECONCILE_MAX_PAGES"
	EnvPageSize   = "RECONCILE_PAGE_SIZE"
)

// Settings is the reconcile function's configuration from its environment
// (the Okta client's own variables, OKTA_ORG_URL and OKTA_API_SECRET_ARN,
// are read by the main package).
type Settings struct {
	QueueURL   string        // REVOCATION_QUEUE_URL
	Table      string        // DEDUPE_TABLE_NAME
	DedupeTTL  time.Duration // DEDUPE_TTL, default dedupe.DefaultTTL
	EventTypes []string      // REVOKE_ON_EVENTS, default revocation.DefaultEventTypes()
	Lookback   time.Duration // RECONCILE_LOOKBACK, default 1h
	MaxPages   int           // RECONCILE_MAX_PAGES, default 10
	PageSize   int           // RECONCILE_PAGE_SIZE, default 1000
}

// LoadSettings reads the configuration through getenv (os.Getenv in the
// function), reporting every problem at once. An unknown event type in
// REVOKE_ON_EVENTS is an error, as in the hook: both must map events the
// same way.
func LoadSettings(getenv func(string) string) (Settings, error) {
	s := Settings{
		QueueURL:  strings.TrimSpace(getenv(EnvQueueURL)),
		Table:     strings.TrimSpace(getenv(EnvTable)),
		DedupeTTL: dedupe.DefaultTTL,
		Lookback:  DefaultLookback,
		MaxPages:  DefaultMaxPages,
		PageSize:  DefaultPageSize,
	}
	var errs []error
	if s.QueueURL == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvQueueURL))
	}
	if s.Table == "" {
		errs = append(errs, fmt.Errorf("%s is required: the reconciler keeps its cursor and the queued events there", EnvTable))
	}
	if types, err := revocation.ParseEventTypes(getenv(EnvEventTypes)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvEventTypes, err))
	} else {
		s.EventTypes = types
	}
	if d, err := envconf.PositiveDuration(getenv, EnvDedupeTTL, dedupe.DefaultTTL); err != nil {
		errs = append(errs, err)
	} else {
		s.DedupeTTL = d
	}
	if d, err := envconf.PositiveDuration(getenv, EnvLookback, DefaultLookback); err != nil {
		errs = append(errs, err)
	} else if d > maxLookback {
		errs = append(errs, fmt.Errorf("%s %s is beyond the System Log's 90-day retention", EnvLookback, d))
	} else {
		s.Lookback = d
	}
	if s.Lookback >= s.DedupeTTL {
		errs = append(errs, fmt.Errorf("%s %s must be shorter than %s %s, or events read on the first run may be queued again", EnvLookback, s.Lookback, EnvDedupeTTL, s.DedupeTTL))
	}
	if n, err := envconf.Int(getenv, EnvMaxPages, DefaultMaxPages, 1, MaxPagesLimit); err != nil {
		errs = append(errs, err)
	} else {
		s.MaxPages = n
	}
	if n, err := envconf.Int(getenv, EnvPageSize, DefaultPageSize, 1, okta.MaxLogLimit); err != nil {
		errs = append(errs, err)
	} else {
		s.PageSize = n
	}
	if len(errs) > 0 {
		return Settings{}, fmt.Errorf("reconcile configuration: %w", errors.Join(errs...))
	}
	return s, nil
}
