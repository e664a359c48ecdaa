package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/web"

	"github.com/spf13/cobra"
)

// clientFlags are the flags of the commands that talk to a running serve
// over the API.
type clientFlags struct {
	server string
	token  string
	json   bool
}

func (c *clientFlags) add(cmd *cobra.Command) {
	server := os.Getenv("ABUSEGUARD_URL")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	cmd.Flags().StringVar(&c.server, "server", server, "abuseguard API base URL ($ABUSEGUARD_URL)")
	cmd.Flags().StringVar(&c.token, "token", os.Getenv("ABUSEGUARD_TOKEN"), "API token ($ABUSEGUARD_TOKEN)")
	cmd.Flags().BoolVar(&c.json, "json", false, "print the API's JSON answer instead of a table")
}

// apiError is an error answer of the API, shown as its code and sentence.
type apiError struct {
	status int
	body   web.ErrorBody
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.body.Error.Code, e.status, e.body.Error.Message)
}

// call sends one request and decodes the JSON answer into out; raw gets
// the body as is when --json is set.
func (c *clientFlags) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	if c.token == "" {
		return nil, usageError{errors.New("no token: pass --token or set ABUSEGUARD_TOKEN (abuseguard token create)")}
	}
	base, err := url.Parse(c.server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, usageError{fmt.Errorf("--server %q is not an http(s) URL", c.server)}
	}
	var body io.Reader
	if in != nil {
		js, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(js)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.server, "/")+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("abuseguard API: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("abuseguard API: %w", err)
	}
	if res.StatusCode >= 300 {
		e := &apiError{status: res.StatusCode}
		if json.Unmarshal(data, &e.body) != nil || e.body.Error.Code == "" {
			e.body.Error = web.ErrorDetail{Code: abuseguard.EINTERNAL, Message: strings.TrimSpace(string(data))}
		}
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("abuseguard API: unexpected answer: %w", err)
		}
	}
	return data, nil
}

// printJSON writes the API's answer as is.
func printJSON(cmd *cobra.Command, data []byte) error {
	_, err := cmd.OutOrStdout().Write(data)
	return err
}
