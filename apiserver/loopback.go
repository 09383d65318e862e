package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// applyLoopback gives the server its privileged loopback client, as
// SecureServingOptionsWithLoopback does, but with an ECDSA P-256 self-signed certificate
// (upstream's is RSA-2048, generated on every start: 100-500 ms).
func applyLoopback(c *genericapiserver.Config) error {
	certPEM, keyPEM, err := selfSignedLoopbackCert()
	if err != nil {
		return fmt.Errorf("loopback certificate: %w", err)
	}
	provider, err := dynamiccertificates.NewStaticSNICertKeyContent("self-signed loopback", certPEM, keyPEM, genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return fmt.Errorf("loopback certificate: %w", err)
	}
	c.SecureServing.SNICerts = append([]dynamiccertificates.SNICertKeyContentProvider{provider}, c.SecureServing.SNICerts...)
	cfg, err := c.SecureServing.NewLoopbackClientConfig(uuid.New().String(), certPEM)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	c.LoopbackClientConfig = cfg
	return nil
}

func selfSignedLoopbackCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: genericapiserver.LoopbackClientServerNameOverride},
		DNSNames:              []string{genericapiserver.LoopbackClientServerNameOverride},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
