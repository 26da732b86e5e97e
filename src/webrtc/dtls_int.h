/*
 * DTLS's insides, shared by dtls_cert.c (the certificate, fingerprints,
 * SRTP key material) and dtls.c (a connection's handshake and records)
 * and by no one else.
 */
#ifndef VOXGATE_WEBRTC_DTLS_INT_H
#define VOXGATE_WEBRTC_DTLS_INT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "webrtc/dtls.h"

#define DTLS_SRTP_ALL "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"

struct dtls_cert {
	SSL_CTX *ctx;
	X509 *x509;
	EVP_PKEY *pkey;
	char fp[DTLS_FP_STR_SIZE];
};

/* The certificate verification callback of every connection (the
 * context's, set by dtls_cert.c), in dtls.c for it reads the connection:
 * the leaf must be the certificate the peer's SDP announced. */
int dtls_verify_cert(X509_STORE_CTX *xs, void *arg);

#endif
