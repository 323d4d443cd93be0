package main

import (
	"runtime"
	"runtime/debug"

	"github.com/keyward/keyward/internal/signer"
)

// Set at build time, as scripts/docker/Dockerfile does:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) \
//	  -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/keyward
//
// Without them the module version and the commit Go records when it builds
// from a git checkout are used, and no build date is shown.
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionString is the one line `keyward version` prints:
//
//	keyward v1.2.3 (commit 0123456789ab, built 2026-11-30T10:08:12Z) go1.26.10 linux/amd64, signer openssl 3.0.19
//
// The signer is what signs RS256 tokens: "openssl VERSION" (libcrypto, in a
// build with -tags openssl) or "go" (crypto/rsa); see internal/signer.
func versionString() string {
	v, c, d := version, commit, date
	modified := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true" && commit == ""
			}
		}
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if modified {
		c += "+dirty"
	}
	if v == "" {
		v = "(devel)"
	}
	out := "keyward " + v
	switch {
	case c != "" && d != "":
		out += " (commit " + c + ", built " + d + ")"
	case c != "":
		out += " (commit " + c + ")"
	case d != "":
		out += " (built " + d + ")"
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ", signer " + signer.Description()
}
