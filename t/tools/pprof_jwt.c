/*
 * pprof-jwt: keys, JWKs and tokens for the integration tests.  A test
 * helper, never installed: it signs tokens no issuer should (alg none, HMAC
 * keyed with a public key), and `jwk` prints one JWK, which the tests wrap
 * in {"keys":[...]}.  Operators make keys and tokens with the openssl
 * recipes of docs/keys.md.
 *
 *   pprof-jwt keygen ALG OUT_PREFIX [SIZE]
 *       RS256/384/512, PS256 (RSA, SIZE bits, 2048 by default), ES256
 *       (P-256), ES384 (P-384), EdDSA (Ed25519): OUT_PREFIX.key (private
 *       PEM) and OUT_PREFIX.pub (public PEM).  HS256/384/512:
 *       OUT_PREFIX.secret, SIZE random bytes (32 by default).
 *
 *   pprof-jwt jwk ALG PREFIX KID [alg]
 *       The public JWK of PREFIX.key as JSON (the oct JWK of PREFIX.secret
 *       for HS*), with "kid": KID; with the word "alg", "alg": ALG too.
 *       KID "-" leaves kid out.
 *
 *   pprof-jwt sign ALG PREFIX HEADER_JSON PAYLOAD_JSON
 *       A compact JWS of exactly these bytes, signed by ALG with
 *       PREFIX.key, or for HS* with PREFIX.secret, or when there is none
 *       with the bytes of PREFIX.pub (an HMAC keyed with a public key).
 *       ALG "none" signs nothing; ES* signatures are R || S.
 *
 * Exit status 0, or 1 with a message on stderr.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/tools/jwt_sign.h"


static int
usage(void)
{
    fprintf(stderr,
            "usage: pprof-jwt keygen ALG OUT_PREFIX [SIZE]\n"
            "       pprof-jwt jwk ALG PREFIX KID [alg]\n"
            "       pprof-jwt sign ALG PREFIX HEADER_JSON PAYLOAD_JSON\n");
    return 1;
}


static int
is_hmac(const char *alg)
{
    return strncmp(alg, "HS", 2) == 0;
}


static int
is_rsa(const char *alg)
{
    return (alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S'
           && (strcmp(alg + 2, "256") == 0 || strcmp(alg + 2, "384") == 0
               || strcmp(alg + 2, "512") == 0);
}


static char *
path_of(const char *prefix, const char *suffix)
{
    char  *path;

    path = malloc(strlen(prefix) + strlen(suffix) + 1);
    if (path == NULL) {
        fprintf(stderr, "pprof-jwt: out of memory\n");
        exit(1);
    }

    strcpy(path, prefix);
    strcat(path, suffix);
    return path;
}


static int
write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE  *f;
    int    ok;

    f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;

    if (!ok) {
        perror(path);
        return -1;
    }

    return 0;
}


static int
keygen(const char *alg, const char *prefix, const char *size)
{
    unsigned char  *secret;
    EVP_PKEY       *key;
    char           *path, *end;
    long            n;
    int             rc;

    n = 0;
    if (size != NULL) {
        n = strtol(size, &end, 10);
        if (*size == '\0' || *end != '\0' || n <= 0 || n > 16384) {
            fprintf(stderr, "pprof-jwt: bad size \"%s\"\n", size);
            return 1;
        }
    }

    if (is_hmac(alg)) {
        if (n == 0) {
            n = 32;
        }

        secret = malloc((size_t) n);
        if (secret == NULL || jwt_random(secret, (size_t) n) != 0) {
            fprintf(stderr, "pprof-jwt: no random bytes\n");
            free(secret);
            return 1;
        }

        path = path_of(prefix, ".secret");
        rc = write_file(path, secret, (size_t) n);
        free(path);
        free(secret);
        return rc == 0 ? 0 : 1;
    }

    if (n != 0) {
        if (!is_rsa(alg)) {
            fprintf(stderr, "pprof-jwt: SIZE is for RSA and HMAC keys\n");
            return 1;
        }
        key = jwt_keygen_rsa((unsigned) n);

    } else {
        key = jwt_keygen(alg);
    }

    if (key == NULL) {
        fprintf(stderr, "pprof-jwt: cannot make a key for \"%s\"\n", alg);
        return 1;
    }

    path = path_of(prefix, ".key");
    rc = jwt_write_pem_private(key, path);
    if (rc != 0) {
        fprintf(stderr, "pprof-jwt: cannot write %s\n", path);
    }
    free(path);

    if (rc == 0) {
        path = path_of(prefix, ".pub");
        rc = jwt_write_pem_public(key, path);
        if (rc != 0) {
            fprintf(stderr, "pprof-jwt: cannot write %s\n", path);
        }
        free(path);
    }

    EVP_PKEY_free(key);
    return rc == 0 ? 0 : 1;
}


static EVP_PKEY *
read_key(const char *prefix)
{
    EVP_PKEY  *key;
    char      *path;

    path = path_of(prefix, ".key");
    key = jwt_read_pem_private(path);
    if (key == NULL) {
        fprintf(stderr, "pprof-jwt: cannot read a private key from %s\n",
                path);
    }
    free(path);
    return key;
}


/* PREFIX.secret, or with fallback PREFIX.pub's bytes. */
static unsigned char *
read_secret(const char *prefix, int fallback, size_t *len)
{
    unsigned char  *data;
    char           *path;

    path = path_of(prefix, ".secret");
    data = jwt_read_file(path, len);

    if (data == NULL && fallback) {
        free(path);
        path = path_of(prefix, ".pub");
        data = jwt_read_file(path, len);
    }

    if (data == NULL) {
        fprintf(stderr, "pprof-jwt: cannot read %s\n", path);
    }

    free(path);
    return data;
}


static int
jwk(const char *alg, const char *prefix, const char *kid, const char *flag)
{
    unsigned char  *secret;
    EVP_PKEY       *key;
    size_t          len;
    char           *s;

    if (flag != NULL && strcmp(flag, "alg") != 0) {
        return usage();
    }

    if (strcmp(kid, "-") == 0) {
        kid = NULL;
    }

    if (is_hmac(alg)) {
        secret = read_secret(prefix, 0, &len);
        if (secret == NULL) {
            return 1;
        }
        s = jwt_jwk_oct(secret, len, kid, flag ? alg : NULL);
        free(secret);

    } else {
        key = read_key(prefix);
        if (key == NULL) {
            return 1;
        }
        s = jwt_jwk(key, kid, flag ? alg : NULL);
        EVP_PKEY_free(key);
    }

    if (s == NULL) {
        fprintf(stderr, "pprof-jwt: cannot make a JWK\n");
        return 1;
    }

    printf("%s\n", s);
    free(s);
    return 0;
}


static int
sign(const char *alg, const char *prefix, const char *header,
    const char *payload)
{
    unsigned char  *secret;
    EVP_PKEY       *key;
    size_t          len;
    char           *token;

    secret = NULL;
    key = NULL;
    len = 0;

    if (is_hmac(alg)) {
        secret = read_secret(prefix, 1, &len);
        if (secret == NULL) {
            return 1;
        }

    } else if (strcmp(alg, "none") != 0) {
        key = read_key(prefix);
        if (key == NULL) {
            return 1;
        }
    }

    token = jwt_sign(alg, key, secret, len, header, payload);

    free(secret);
    EVP_PKEY_free(key);

    if (token == NULL) {
        fprintf(stderr, "pprof-jwt: cannot sign with %s\n", alg);
        return 1;
    }

    printf("%s\n", token);
    free(token);
    return 0;
}


int
main(int argc, char **argv)
{
    if (argc < 2) {
        return usage();
    }

    if (strcmp(argv[1], "keygen") == 0 && (argc == 4 || argc == 5)) {
        return keygen(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    }

    if (strcmp(argv[1], "jwk") == 0 && (argc == 5 || argc == 6)) {
        return jwk(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    }

    if (strcmp(argv[1], "sign") == 0 && argc == 6) {
        return sign(argv[2], argv[3], argv[4], argv[5]);
    }

    return usage();
}
