// Package tether is Tether's domain: the types, service interfaces, rules
// and error codes every side shares, with no dependency on HTTP, SQL or
// Redis, one file per concept. api/store implements the services on gorm
// (MySQL or SQLite), api/rest serves them over HTTP with gin, api/relay
// moves committed outbox rows to push nodes. openapi.go embeds the REST
// contract.
package tether

// Page sizes of every listing. They are part of the contract (openapi.yaml).
const (
	MaxPageSize     = 200
	DefaultPageSize = 50
)
