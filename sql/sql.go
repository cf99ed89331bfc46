// Package sql embeds wxcas's schema migrations, one directory per dialect
// (mysql/, sqlite/), applied by goose at start-up and by `wxcas migrate`.
// Both dialects carry the same tables and the same version numbers.
//
// Version ranges keep parallel work apart: 1–9 foundation, 10–19 SMS/OTP,
// 20–29 CAS tickets, 30–39 identities, bindings and login flows, 40–49 API.
package sql

import (
	"embed"
	"io/fs"
)

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// Migrations returns the migration files for a dialect ("mysql" or "sqlite").
func Migrations(dialect string) (fs.FS, error) { return fs.Sub(files, dialect) }
