package api

import _ "embed"

// openAPIDocument describes every route of table(); TestOpenAPI checks
// that they agree.
//
//go:embed openapi.json
var openAPIDocument []byte
