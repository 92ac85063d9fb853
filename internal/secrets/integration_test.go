package secrets

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

var motoServer *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoServer) }

func TestCacheOnMoto(t *testing.T) {
	sm := motoServer.SecretsManager()
	arn := motoServer.CreateSecret(t, "okta/api-token", `{"apiToken":"one"}`)

	c, clk := newTestCache(sm, time.Minute)
	c.secretID = arn
	if got := mustCurrent(t, c); got != `{"apiToken":"one"}` {
		t.Fatalf("Current = %q", got)
	}
	if _, ok, err := c.Previous(ctx); ok || err != nil {
		t.Fatalf("Previous of a never-rotated secret: ok=%v err=%v, want ok=false and no error", ok, err)
	}

	motoServer.PutSecretValue(t, arn, `{"apiToken":"two"}`)
	if got := mustCurrent(t, c); got != `{"apiToken":"one"}` {
		t.Fatalf("within the TTL Current = %q, want the cached value", got)
	}
	clk.Advance(time.Minute)
	if got := mustCurrent(t, c); got != `{"apiToken":"two"}` {
		t.Fatalf("after the TTL Current = %q, want the rotated value", got)
	}
	if v, ok, err := c.Previous(ctx); v != `{"apiToken":"one"}` || !ok || err != nil {
		t.Fatalf("Previous = %q, %v, %v", v, ok, err)
	}

	motoServer.PutSecretValue(t, arn, `{"apiToken":"three"}`)
	c.Invalidate()
	if got := mustCurrent(t, c); got != `{"apiToken":"three"}` {
		t.Fatalf("after Invalidate Current = %q, want the rotated value", got)
	}
	if v, _, _ := c.Previous(ctx); v != `{"apiToken":"two"}` {
		t.Fatalf("after Invalidate Previous = %q", v)
	}
	// The version's CreatedDate comes with it: how long the rotation has
	// been in place.
	if created, err := c.CurrentCreated(ctx); err != nil || created.IsZero() || time.Since(created) > time.Hour || time.Until(created) > time.Minute {
		t.Fatalf("CurrentCreated = %v, %v; want about now", created, err)
	}
}

func TestMissingSecretOnMoto(t *testing.T) {
	c := NewCache(motoServer.SecretsManager(), "does/not/exist", time.Minute)
	_, err := c.Current(ctx)
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "does/not/exist") {
		t.Fatalf("Current = %v, want ResourceNotFoundException naming the secret", err)
	}
}
