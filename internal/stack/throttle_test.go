package stack

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
)

// The API as deployed limits login attempts per username by default: a
// burst of wrong passwords is cut off with 429 and Retry-After.
func TestAPI_DefaultLoginLimitCutsOffWrongPasswordsWith429(t *testing.T) {
	t.Parallel()
	a, _ := startAPIAndPush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	if _, err := client.NewAPI(base, nil).Register(ctx, "victim", password); err != nil {
		t.Fatal(err)
	}
	login := func() *http.Response {
		body := strings.NewReader(`{"username":"victim","password":"not the password","device_id":"d","platform":"web"}`)
		rq, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sessions", body)
		rq.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// 10 a minute: the first 10 are checked; one more comes back every 6 s,
	// so however slow this machine, 20 attempts meet the limit.
	for i := 1; i <= 20; i++ {
		res := login()
		switch {
		case res.StatusCode == http.StatusTooManyRequests:
			if i <= 10 {
				t.Fatalf("attempt %d refused: the limit is 10 a minute", i)
			}
			if res.Header.Get("Retry-After") == "" || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("429 without Retry-After or problem+json: %v", res.Header)
			}
			return
		case res.StatusCode != http.StatusUnauthorized:
			t.Fatalf("attempt %d: %d, want 401 then 429", i, res.StatusCode)
		}
	}
	t.Fatalf("20 wrong passwords for one username and no %s", tether.ERATELIMITED)
}
