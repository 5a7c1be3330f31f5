package config

import "strings"

// masked replaces secrets in printed configuration.
const masked = "***"

func maskValue(k Kind, v string) string {
	switch k {
	case Secret:
		if v == "" {
			return ""
		}
		return masked
	case DSN:
		return MaskDSN(v)
	}
	return v
}

// MaskDSN returns a MySQL DSN ("user:password@tcp(host:3306)/db?params") with
// its password replaced by "***". It splits the DSN the way the MySQL driver
// does: the last "/" ends the address part, and the last "@" before it ends
// the credentials, so passwords containing "/", "@" or ":" stay hidden.
func MaskDSN(dsn string) string {
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		// Not a DSN the driver would accept; it may still hold a password.
		if strings.Contains(dsn, "@") || strings.Contains(dsn, ":") {
			return masked
		}
		return dsn
	}
	at := strings.LastIndex(dsn[:slash], "@")
	if at < 0 {
		return dsn
	}
	colon := strings.Index(dsn[:at], ":")
	if colon < 0 {
		return dsn
	}
	return dsn[:colon+1] + masked + dsn[at:]
}
