// Package certs makes and keeps kubeshim's PKI: a certificate authority, the
// serving certificates of the API server (and kubelets), and client
// certificates for the identities that talk to it. Everything lives as PEM
// files in one directory; every Load-or-Create call reuses what is on disk
// while it is still good and re-issues it otherwise.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"
)

const (
	// CACommonName is the subject common name of a CA made by LoadOrCreateCA.
	CACommonName = "kubeshim-ca"

	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore: a leaf certificate expiring within this window is re-issued.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates clock skew between the issuing host and its peers.
	backdate = time.Hour

	caName = "ca"
)

// now is the clock; tests move it.
var now = time.Now

// Authority is a certificate authority able to sign leaf certificates.
type Authority struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer
	// CertPEM is the PEM encoding of the CA certificate file (for kubeconfigs
	// and client CA bundles).
	CertPEM []byte
	// CertFile is the path of the CA certificate (for --client-ca-file style
	// settings).
	CertFile string
}

// LoadOrCreateCA loads dir/ca.crt and dir/ca.key, or creates them when
// dir/ca.crt does not exist: an ECDSA P-256 self-signed CA with common name
// "kubeshim-ca", valid for 10 years. dir is created with mode 0700 if needed.
//
// An existing CA is never replaced silently: a missing or mismatched key, a
// certificate that is not a CA, or an expired CA is an error.
func LoadOrCreateCA(dir string) (*Authority, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	certFile, keyFile := pairPaths(dir, caName)
	certExists, err := fileExists(certFile)
	if err != nil {
		return nil, err
	}
	if !certExists {
		// The key is written before the certificate, so a key without a
		// certificate is the leftover of an interrupted creation: nothing can
		// have been signed with it yet, and it is replaced.
		return createCA(certFile, keyFile)
	}
	keyExists, err := fileExists(keyFile)
	if err != nil {
		return nil, err
	}
	if !keyExists {
		return nil, fmt.Errorf("load CA: %s exists but its key %s is missing", certFile, keyFile)
	}
	return loadCA(certFile, keyFile)
}

func createCA(certFile, keyFile string) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             t.Add(-backdate).UTC(),
		NotAfter:              t.Add(caValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	certPEM, keyPEM, err := encodePair(der, key)
	if err != nil {
		return nil, err
	}
	if err := writePair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return nil, err
	}
	klog.InfoS("Created certificate authority", "cert", certFile, "notAfter", cert.NotAfter)
	return &Authority{Cert: cert, Key: key, CertPEM: certPEM, CertFile: certFile}, nil
}

func loadCA(certFile, keyFile string) (*Authority, error) {
	cert, key, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	t := now()
	if t.After(cert.NotAfter) {
		return nil, fmt.Errorf("load CA: %s expired at %s; remove it and %s to create a new CA (every certificate and kubeconfig is then re-issued)",
			certFile, cert.NotAfter.Format(time.RFC3339), keyFile)
	}
	if cert.NotAfter.Sub(t) < renewBefore {
		klog.InfoS("Certificate authority expires soon; certificates it signs cannot outlive it", "cert", certFile, "notAfter", cert.NotAfter)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", certFile, err)
	}
	return &Authority{Cert: cert, Key: key, CertPEM: certPEM, CertFile: certFile}, nil
}

// issue signs tmpl (subject, SANs and extended key usage filled in by the
// caller) for a new ECDSA P-256 key, valid for a year or until the CA
// expires, whichever comes first.
func (a *Authority) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	t := now()
	notAfter := t.Add(leafValidity)
	if notAfter.After(a.Cert.NotAfter) {
		notAfter = a.Cert.NotAfter
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = t.Add(-backdate).UTC()
	tmpl.NotAfter = notAfter.UTC()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return encodePair(der, key)
}

// verifyLeaf checks that cert was signed by a, is valid for usage and does
// not expire within the renewal window. It returns why cert must be
// re-issued, or nil.
func (a *Authority) verifyLeaf(cert *x509.Certificate, usage x509.ExtKeyUsage) error {
	roots := x509.NewCertPool()
	roots.AddCert(a.Cert)
	t := now()
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: t,
		KeyUsages:   []x509.ExtKeyUsage{usage},
	}); err != nil {
		return err
	}
	if cert.NotAfter.Sub(t) < renewBefore {
		return fmt.Errorf("expires at %s, within %s", cert.NotAfter.Format(time.RFC3339), renewBefore)
	}
	return nil
}

// loadPair reads a certificate and its private key and checks they match.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s and %s: %w", certFile, keyFile, err)
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", certFile, err)
		}
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("key %s: %T is not a signer", keyFile, pair.PrivateKey)
	}
	return cert, signer, nil
}

// writePair writes the key first and the certificate second: a crash in
// between leaves a certificate that does not match its key, which the loaders
// detect.
func writePair(certFile, keyFile string, certPEM, keyPEM []byte) error {
	if err := writeFileAtomic(keyFile, keyPEM); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM)
}

func encodePair(certDER []byte, key crypto.PrivateKey) (certPEM, keyPEM []byte, err error) {
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	return certPEM, keyPEM, nil
}

// randomSerial returns a uniformly random positive serial number of up to
// 128 bits (RFC 5280 allows 20 octets).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func pairPaths(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// checkName rejects names that would escape dir or overwrite the CA.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("certificate name is empty")
	case name == caName:
		return fmt.Errorf("certificate name %q is reserved for the CA", name)
	case name == "." || name == ".." || filepath.Base(name) != name || filepath.IsAbs(name):
		return fmt.Errorf("certificate name %q is not a plain file name", name)
	}
	return nil
}
