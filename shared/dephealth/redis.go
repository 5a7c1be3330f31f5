package dephealth

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisRefused reports whether err is Redis answering but refusing the
// work: a cluster node answering MOVED or ASK or CLUSTERDOWN, a replica
// answering READONLY, NOAUTH, WRONGPASS, NOPERM, an unknown command (a
// proxy). A network error or a timeout is an outage, not a refusal, and so
// are the replies that pass by themselves (LOADING, BUSY, TRYAGAIN).
func RedisRefused(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, transient := range []string{"LOADING", "BUSY", "TRYAGAIN"} {
		if strings.HasPrefix(msg, transient) {
			return false
		}
	}
	return true
}
