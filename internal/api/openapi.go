package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

// openAPIDocument is the OpenAPI 3 description of the API, written by hand
// (not generated from the route table) so that the tests that validate
// every route's real answers against it check the code against an
// independent statement of the contract.
//
//go:embed openapi.json
var openAPIDocument []byte

// getOpenAPI serves the document. It exists only as JSON, so the answer is
// JSON whatever the client's Accept header asks: the generic writer picks
// the encoding from that header, which is set here before it runs.
func (s *Server) getOpenAPI(c *call) (int, any, error) {
	c.r.Header.Set("Accept", "application/json")
	return http.StatusOK, json.RawMessage(openAPIDocument), nil
}
