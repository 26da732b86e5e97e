/*
 * SIP over TLS: the certificate and key loaded for libre, and the TLS
 * transport on sipua's stack.
 *
 * libre 1.1.0's tls_alloc reads the chain and the key from one file
 * (SSL_CTX_use_certificate_chain_file, then SSL_CTX_use_PrivateKey_file on
 * the same path); tls_set_certificate_pem would keep only the leaf and lose
 * the intermediates. Two files are therefore joined in a memfd, never on
 * disk, and handed over as /proc/self/fd/N. Both are read and checked with
 * OpenSSL first, so that a start-up failure says which file and why
 * (libre only says EINVAL), and an encrypted key is refused rather than
 * asked for on the terminal.
 *
 * libre's SIP transport uses the listening TLS context for the connections
 * it opens too, and never verifies the far side's certificate (it calls
 * tls_start_tcp without a host to check): TLS to a trunk encrypts but does
 * not authenticate it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "sip/sipua_int.h"

#define PEM_MAX (1024 * 1024) /* a chain and key: far below */

/* The whole file into a libre buffer, at most PEM_MAX bytes. */
static int file_read(const char *path, struct mbuf **mbp)
{
	FILE *f = fopen(path, "rb");
	struct mbuf *mb;
	uint8_t buf[4096];
	size_t n;
	int err = 0;

	if (!f)
		return errno;
	mb = mbuf_alloc(8192);
	if (!mb) {
		fclose(f);
		return ENOMEM;
	}
	errno = 0;
	while (!err && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (mb->end + n > PEM_MAX)
			err = EFBIG;
		else
			err = mbuf_write_mem(mb, buf, n);
	}
	if (!err && ferror(f))
		err = errno ? errno : EIO; /* a directory: EISDIR */
	fclose(f);
	if (err) {
		mem_deref(mb);
		return err;
	}
	*mbp = mb;
	return 0;
}

/* No passphrase: an encrypted key is refused, not prompted for. */
static int no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The first certificate and the key parse, and belong together; key_own:
 * the key has a file of its own. *keys: the fault is the key's. */
static int pem_check(const struct mbuf *cert, const struct mbuf *key,
                     bool key_own, bool *keys, const char **why)
{
	BIO *cb = BIO_new_mem_buf(cert->buf, (int)cert->end);
	BIO *kb = BIO_new_mem_buf(key->buf, (int)key->end);
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int err = EINVAL;

	*keys = false;
	if (!cb || !kb) {
		*why = "sip_tls_cert: out of memory";
		err = ENOMEM;
	} else if (!(x = PEM_read_bio_X509(cb, NULL, no_pass, NULL))) {
		*why = "sip_tls_cert: holds no PEM certificate";
	} else if (!(pk = PEM_read_bio_PrivateKey(kb, NULL, no_pass, NULL))) {
		*keys = true;
		*why = key_own ? "sip_tls_key: holds no PEM private key (or an "
		                 "encrypted one)"
		               : "sip_tls_key: not set, and sip_tls_cert holds "
		                 "no PEM private key (or an encrypted one)";
	} else if (X509_check_private_key(x, pk) != 1) {
		*keys = true;
		*why = "sip_tls_key: does not match the certificate of "
		       "sip_tls_cert";
	} else {
		err = 0;
	}
	ERR_clear_error();
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(kb);
	BIO_free(cb);
	return err;
}

/* Why file_read failed, for the certificate or the key. */
static const char *read_why(bool key, int err)
{
	switch (err) {
	case ENOENT:
		return key ? "sip_tls_key: no such file"
		           : "sip_tls_cert: no such file";
	case EACCES:
		return key ? "sip_tls_key: permission denied"
		           : "sip_tls_cert: permission denied";
	case EFBIG:
		return key ? "sip_tls_key: larger than 1 MB"
		           : "sip_tls_cert: larger than 1 MB";
	default:
		return key ? "sip_tls_key: cannot be read"
		           : "sip_tls_cert: cannot be read";
	}
}

static int memfd_join(const struct mbuf *a, const struct mbuf *b, int *fdp)
{
	int fd = memfd_create("voxgate-sip-tls", MFD_CLOEXEC);
	const struct mbuf *parts[] = {a, b};

	if (fd < 0)
		return errno;
	for (size_t i = 0; i < 2; i++) {
		size_t off = 0;

		while (off < parts[i]->end) {
			ssize_t w =
			    write(fd, parts[i]->buf + off, parts[i]->end - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int err = w < 0 ? errno : EIO;

				close(fd);
				return err;
			}
			off += (size_t)w;
		}
		/* a chain that does not end its last line */
		if (!i && write(fd, "\n", 1) != 1) {
			close(fd);
			return EIO;
		}
	}
	*fdp = fd;
	return 0;
}

int sipua_tls_load(struct tls **tlsp, const char *cert, const char *key,
                   const char **file, const char **why)
{
	struct mbuf *cm = NULL, *km = NULL;
	const char *path = cert, *unused;
	char fdpath[64];
	int fd = -1, err;
	bool keys;

	if (!file)
		file = &unused;
	if (!why)
		why = &unused;
	if (!tlsp || !cert || !*cert)
		return EINVAL;
	if (!key)
		key = "";
	*file = cert;
	err = file_read(cert, &cm);
	if (err) {
		*why = read_why(false, err);
		return err;
	}
	if (*key && strcmp(key, cert)) {
		*file = key;
		err = file_read(key, &km);
		if (err) {
			*why = read_why(true, err);
			goto out;
		}
	}
	err = pem_check(cm, km ? km : cm, km != NULL, &keys, why);
	if (err) {
		*file = keys && km ? key : cert;
		goto out;
	}
	if (km) {
		err = memfd_join(cm, km, &fd);
		if (err) {
			*why = "sip_tls_key: cannot be joined to sip_tls_cert "
			       "in memory";
			goto out;
		}
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		path = fdpath;
	}
	*file = cert;
	err = tls_alloc(tlsp, TLS_METHOD_SSLV23, path, NULL);
	if (err)
		*why = "sip_tls_cert: OpenSSL refused the chain or the key";
out:
	if (fd >= 0)
		close(fd);
	mem_deref(cm);
	mem_deref(km);
	return err;
}

int sipua_tls_listen(struct sipua *ua)
{
	struct sa laddr = ua->prm.listen;
	int err;

	if (!ua->prm.tls)
		return 0;
	sa_set_port(&laddr, ua->prm.tls_port);
	err = sip_transp_add(ua->sip, SIP_TRANSP_TLS, &laddr, ua->prm.tls);
	if (err)
		return err;
	return re_sdprintf(&ua->contact_tls, "sip:voxgate@%j:%u;transport=tls",
	                   &ua->prm.external, ua->prm.tls_port);
}

bool sipua_tls_ready(const struct sipua *ua)
{
	return ua && ua->contact_tls;
}

const char *sipua_contact(const struct sipua *ua, enum sip_transp tp)
{
	switch (tp) {
	case SIP_TRANSP_TCP:
		return ua->contact_tcp;
	case SIP_TRANSP_TLS:
		return ua->contact_tls ? ua->contact_tls : ua->contact_tcp;
	default:
		return ua->contact_udp;
	}
}
