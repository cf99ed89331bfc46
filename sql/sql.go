// Package sql embeds wxcas's schema migrations, one directory per dialect
// (mysql/, sqlite/), applied by goose at start-up and by `wxcas migrate`.
// Both dialects carry the same tables and the same version numbers.
//
// Versions only grow. goose refuses to apply a file numbered below a
// database's current version, so a migration added after a release takes the
// next number above the highest released one (up to 42 the numbers were
// grouped by area: 1–9 foundation, 10–19 OTP, 20–29 CAS, 30–39 identities
// and flows, 40–42 API). sql_test.go holds the released versions.
package sql

import (
	"embed"
	"io/fs"
)

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// Migrations returns the migration files for a dialect ("mysql" or "sqlite").
func Migrations(dialect string) (fs.FS, error) { return fs.Sub(files, dialect) }
