package agentrpc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// ServerTLS is the agent's TCP transport security: its own certificate, and
// only clients with a certificate issued by the CA in caFile get in. The
// engine is the only legitimate client, and an agent controls VMs and disks,
// so there is no anonymous access; TLS 1.3 is the minimum because both ends
// are govirt and nothing older needs to connect. Files are read once: a
// renewed certificate takes effect at the next agent start.
func ServerTLS(certFile, keyFile, caFile string) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agentrpc: server certificate: %w", err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}), nil
}

// ClientTLS is the engine's side: it presents its client certificate and
// trusts only agents whose certificate the CA in caFile issued for
// serverName (a DNS name or IP of the host, as the certificate lists it;
// empty: the host part of the dial target).
func ClientTLS(certFile, keyFile, caFile, serverName string) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agentrpc: client certificate: %w", err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}), nil
}

// loadPool trusts exactly the certificates in caFile, never the system's
// roots: a public CA has no say over which engine may drive a host.
func loadPool(caFile string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("agentrpc: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("agentrpc: CA certificate %s: no PEM certificate found", caFile)
	}
	return pool, nil
}
