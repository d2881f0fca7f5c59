/*  security.c -- key files, allowlist, CURVE socket set-up, the ZAP handler
    and a handshake monitor (security.h). */
#include "security.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN   "offramp"

/* ---- keys ---------------------------------------------------------------- */

bool
ofr_endpoint_is_local (const char *ep)
{
    if (!ep)
        return true;
    if (strncmp (ep, "ipc://", 6) == 0 || strncmp (ep, "inproc://", 9) == 0)
        return true;
    if (strncmp (ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6;
    const char *colon = strrchr (host, ':');
    size_t n = colon ? (size_t) (colon - host) : strlen (host);
    /* A connect address may name a source: tcp://SRC;HOST:PORT. */
    const char *semi = memchr (host, ';', n);
    if (semi) {
        n -= (size_t) (semi + 1 - host);
        host = semi + 1;
    }
    if (n >= 4 && strncmp (host, "127.", 4) == 0) {
        for (size_t i = 4; i < n; i++)
            if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
                return false;
        return true;
    }
    return (n == 9 && strncmp (host, "localhost", 9) == 0)
           || (n == 5 && strncmp (host, "[::1]", 5) == 0)
           || (n == 2 && strncmp (host, "lo", 2) == 0);
}

bool
ofr_z85_key_valid (const char *s)
{
    uint8_t bin[32];
    return s && strlen (s) == OFR_Z85_KEYLEN && zmq_z85_decode (bin, s) != NULL;
}

int
ofr_keypair_generate (ofr_keypair *kp, char *err, size_t errlen)
{
    memset (kp, 0, sizeof *kp);
    if (zmq_curve_keypair (kp->public_key, kp->secret_key) != 0)
        return ofr_errf (err, errlen, "cannot generate a CURVE key pair: %s "
                         "(libzmq without CURVE support?)", zmq_strerror (errno));
    return 0;
}

static int
write_private (const char *path, const char *text, bool force, char *err, size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open (path, flags, 0600);
    if (fd < 0)
        return ofr_errf (err, errlen, "%s: %s%s", path, strerror (errno),
                         errno == EEXIST ? " (use --force to replace it)" : "");
    /* An existing file keeps its mode on O_TRUNC: tighten it. */
    if (fchmod (fd, 0600) != 0) {
        int e = errno;
        close (fd);
        return ofr_errf (err, errlen, "%s: chmod 0600: %s", path, strerror (e));
    }
    size_t len = strlen (text), off = 0;
    while (off < len) {
        ssize_t n = write (fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close (fd);
            return ofr_errf (err, errlen, "%s: write: %s", path, strerror (e));
        }
        off += (size_t) n;
    }
    if (close (fd) != 0)
        return ofr_errf (err, errlen, "%s: close: %s", path, strerror (errno));
    return 0;
}

static bool
name_ok (const char *name)
{
    if (!name || !*name || *name == '#' || strlen (name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

int
ofr_keypair_write (const ofr_keypair *kp, const char *path, const char *name,
                   bool force, char *err, size_t errlen)
{
    char text[512];
    snprintf (text, sizeof text,
              "# offramp CURVE key pair%s%s -- secret: keep this file private (0600)\n"
              "public = %s\nsecret = %s\n", name ? " " : "", name ? name : "",
              kp->public_key, kp->secret_key);
    return write_private (path, text, force, err, errlen);
}

int
ofr_pubkey_write (const char *public_key, const char *path, const char *name,
                  bool force, char *err, size_t errlen)
{
    char text[512];
    snprintf (text, sizeof text,
              "# offramp CURVE public key: append this file to the coordinator's allowlist\n"
              "%s %s\n", public_key, name_ok (name) ? name : "");
    return write_private (path, text, force, err, errlen);
}

/* The next line of *p (NUL-terminated in place), or NULL at the end. */
static char *
next_line (char **p)
{
    if (!*p || !**p)
        return NULL;
    char *l = *p, *nl = strchr (l, '\n');
    if (nl)
        *nl = 0;
    *p = nl ? nl + 1 : NULL;
    return l;
}

static char *
trim (char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'
                     || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

int
ofr_keypair_load (const char *path, ofr_keypair *kp, char *err, size_t errlen)
{
    memset (kp, 0, sizeof *kp);
    struct stat st;
    if (stat (path, &st) == 0 && (st.st_mode & 077))
        ofr_log (OFR_WARN, "%s: key pair readable by others (mode %03o); chmod 600 it",
                 path, (unsigned) (st.st_mode & 0777));
    char *data = NULL;
    if (ofr_read_file (path, &data, NULL, err, errlen) != 0)
        return -1;
    int line = 0, rc = 0;
    char *cur = data;
    for (char *l = next_line (&cur); l && rc == 0; l = next_line (&cur)) {
        line++;
        char *t = trim (l);
        if (!*t || *t == '#')
            continue;
        char *eq = strchr (t, '=');
        if (!eq) {
            rc = ofr_errf (err, errlen, "%s:%d: expected `public = KEY` or `secret = KEY`",
                           path, line);
            break;
        }
        *eq = 0;
        char *k = trim (t), *v = trim (eq + 1);
        char *dst = strcmp (k, "public") == 0 ? kp->public_key
                    : strcmp (k, "secret") == 0 ? kp->secret_key : NULL;
        if (!dst)
            rc = ofr_errf (err, errlen, "%s:%d: unknown entry '%s'", path, line, k);
        else if (!ofr_z85_key_valid (v))
            rc = ofr_errf (err, errlen, "%s:%d: %s key is not 40 Z85 characters", path, line, k);
        else
            memcpy (dst, v, OFR_Z85_KEYLEN + 1);
    }
    free (data);
    if (rc != 0)
        return rc;
    if (!kp->public_key[0] || !kp->secret_key[0])
        return ofr_errf (err, errlen, "%s: not a key pair (needs `public =` and `secret =` "
                         "lines; create one with `offramp keygen`)", path);
    /* The public key must be the secret key's. */
    uint8_t sec[32];
    char derived[OFR_Z85_KEYLEN + 1];
    if (!zmq_z85_decode (sec, kp->secret_key)
        || zmq_curve_public (derived, kp->secret_key) != 0
        || strcmp (derived, kp->public_key) != 0)
        return ofr_errf (err, errlen, "%s: the public key does not belong to the secret key",
                         path);
    return 0;
}

int
ofr_pubkey_resolve (const char *arg, char out[OFR_Z85_KEYLEN + 1], char *err, size_t errlen)
{
    if (ofr_z85_key_valid (arg) && access (arg, F_OK) != 0) {
        memcpy (out, arg, OFR_Z85_KEYLEN + 1);
        return 0;
    }
    char *data = NULL;
    char rerr[OFR_ERRLEN];
    if (ofr_read_file (arg, &data, NULL, rerr, sizeof rerr) != 0)
        return ofr_errf (err, errlen, "--server-key %s: neither a 40-character Z85 key nor "
                         "a readable key file (%s)", arg, rerr);
    int line = 0, rc = 1;
    char *cur = data;
    for (char *l = next_line (&cur); l && rc == 1; l = next_line (&cur)) {
        line++;
        char *t = trim (l);
        if (strncmp (t, "secret", 6) == 0)
            continue;
        if (strncmp (t, "public", 6) == 0 && strchr (t, '='))
            t = trim (strchr (t, '=') + 1);
        t[strcspn (t, " \t")] = 0;
        if (!*t || (*t == '#' && !ofr_z85_key_valid (t)))
            continue;
        if (!ofr_z85_key_valid (t))
            rc = ofr_errf (err, errlen, "%s:%d: not a 40-character Z85 public key", arg, line);
        else {
            memcpy (out, t, OFR_Z85_KEYLEN + 1);
            rc = 0;
        }
    }
    free (data);
    if (rc == 1)
        return ofr_errf (err, errlen, "%s: no public key in it", arg);
    return rc;
}

/* ---- allowlist ----------------------------------------------------------- */

typedef struct {
    unsigned char key[32];
    char         *name;
} allow_entry;

struct _ofr_allowlist {
    allow_entry *e;
    int          n;
    size_t       cap;
};

int
ofr_allowlist_new (ofr_allowlist **out)
{
    *out = ofr_calloc (1, sizeof **out);
    return *out ? 0 : -1;
}

int
ofr_allowlist_add (ofr_allowlist *self, const char *z85, const char *name)
{
    if (!ofr_z85_key_valid (z85))
        return -1;
    if (ofr_grow ((void **) &self->e, &self->cap, (size_t) self->n + 1, sizeof *self->e) != 0)
        return -1;
    allow_entry *e = &self->e[self->n];
    if (!zmq_z85_decode (e->key, z85) || !(e->name = ofr_strdup (name ? name : "")))
        return -1;
    self->n++;
    return 0;
}

/*  One allowlist line: KEY [NAME] [# comment]. '#' is a Z85 character, so
    a comment is a token starting with '#' where no key is expected, or a
    line whose first token starts with '#' and is not a key. */
static int
allow_line (ofr_allowlist *al, char *text, const char *path, int line,
            char *err, size_t errlen)
{
    char *tok[3] = { NULL, NULL, NULL }, *save = NULL;
    int nt = 0;
    for (char *w = strtok_r (text, " \t\r", &save); w; w = strtok_r (NULL, " \t\r", &save)) {
        bool key_expected = nt == 0 && ofr_z85_key_valid (w);
        if (w[0] == '#' && !key_expected)
            break;
        if (nt == 3)
            break;
        tok[nt++] = w;
    }
    if (nt == 0)
        return 0;
    if (!ofr_z85_key_valid (tok[0]))
        return ofr_errf (err, errlen, "%s:%d: '%.60s' is not a 40-character Z85 public key",
                         path, line, tok[0]);
    if (nt > 2)
        return ofr_errf (err, errlen, "%s:%d: expected `KEY [NAME]`, got more after the name",
                         path, line);
    if (ofr_allowlist_add (al, tok[0], tok[1]) != 0)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    return 0;
}

int
ofr_allowlist_load (const char *path, ofr_allowlist **out, char *err, size_t errlen)
{
    *out = NULL;
    char *data = NULL;
    if (ofr_read_file (path, &data, NULL, err, errlen) != 0)
        return -1;
    ofr_allowlist *al;
    if (ofr_allowlist_new (&al) != 0) {
        free (data);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    int rc = 0, line = 0;
    char *p = data;
    while (p && *p && rc == 0) {
        char *nl = strchr (p, '\n');
        if (nl)
            *nl = 0;
        line++;
        rc = allow_line (al, p, path, line, err, errlen);
        p = nl ? nl + 1 : NULL;
    }
    free (data);
    if (rc != 0) {
        ofr_allowlist_destroy (&al);
        return rc;
    }
    *out = al;
    return 0;
}

int
ofr_allowlist_size (const ofr_allowlist *self)
{
    return self ? self->n : 0;
}

const char *
ofr_allowlist_find (const ofr_allowlist *self, const unsigned char key[32])
{
    for (int i = 0; self && i < self->n; i++)
        if (memcmp (self->e[i].key, key, 32) == 0)
            return self->e[i].name;
    return NULL;
}

void
ofr_allowlist_destroy (ofr_allowlist **self)
{
    if (!*self)
        return;
    for (int i = 0; i < (*self)->n; i++)
        free ((*self)->e[i].name);
    free ((*self)->e);
    free (*self);
    *self = NULL;
}

/* ---- sockets ------------------------------------------------------------- */

int
ofr_curve_server_setup (void *sock, const ofr_keypair *kp, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, kp->secret_key, OFR_Z85_KEYLEN) != 0
        || zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen (ZAP_DOMAIN)) != 0)
        return ofr_errf (err, errlen, "CURVE server set-up: %s", zmq_strerror (errno));
    return 0;
}

int
ofr_curve_client_setup (void *sock, const ofr_keypair *kp, const char *server_key,
                        char *err, size_t errlen)
{
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_key, OFR_Z85_KEYLEN) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, kp->public_key, OFR_Z85_KEYLEN) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, kp->secret_key, OFR_Z85_KEYLEN) != 0)
        return ofr_errf (err, errlen, "CURVE client set-up: %s", zmq_strerror (errno));
    return 0;
}

int
ofr_curve_client_init (ofr_curve_client *cc, const char *endpoint, const char *key_file,
                       const char *server_key, bool insecure, char *err, size_t errlen)
{
    memset (cc, 0, sizeof *cc);
    if (insecure && (key_file || server_key))
        return ofr_errf (err, errlen, "--insecure goes with neither --key nor --server-key");
    if (!key_file && !server_key) {
        if (insecure || ofr_endpoint_is_local (endpoint))
            return 0;
        return ofr_errf (err, errlen, "%s is not loopback or ipc://, so the coordinator "
                         "expects CURVE: give --key FILE (offramp keygen) and --server-key "
                         "KEY|FILE (its public key), or --insecure for plaintext",
                         endpoint ? endpoint : "?");
    }
    if (!key_file || !server_key)
        return ofr_errf (err, errlen, "CURVE needs both --key FILE (this side's key pair) and "
                         "--server-key KEY|FILE (the coordinator's public key)");
    if (ofr_keypair_load (key_file, &cc->kp, err, errlen) != 0
        || ofr_pubkey_resolve (server_key, cc->server_key, err, errlen) != 0)
        return -1;
    cc->curve = true;
    return 0;
}

/* ---- ZAP ----------------------------------------------------------------- */

struct _ofr_zap {
    void                *rep;
    const ofr_allowlist *al;
    int                  accepted, refused;
};

int
ofr_zap_new (void *zctx, const ofr_allowlist *al, ofr_zap **out, char *err, size_t errlen)
{
    *out = NULL;
    ofr_zap *z = ofr_calloc (1, sizeof *z);
    if (!z)
        return ofr_errf (err, errlen, "out of memory");
    z->al = al;
    z->rep = zmq_socket (zctx, ZMQ_REP);
    int zero = 0;
    if (!z->rep || zmq_setsockopt (z->rep, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_bind (z->rep, ZAP_ENDPOINT) != 0) {
        ofr_errf (err, errlen, "ZAP handler %s: %s", ZAP_ENDPOINT, zmq_strerror (errno));
        if (z->rep)
            zmq_close (z->rep);
        free (z);
        return -1;
    }
    *out = z;
    return 0;
}

void *
ofr_zap_socket (ofr_zap *self)
{
    return self->rep;
}

/* Copy frame f of a request into buf as a string (truncated). */
static void
frame_str (zmq_msg_t *f, char *buf, size_t len)
{
    size_t n = zmq_msg_size (f);
    if (n >= len)
        n = len - 1;
    memcpy (buf, zmq_msg_data (f), n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) buf[i] < ' ' || (unsigned char) buf[i] > '~')
            buf[i] = '?';
}

static void
zap_reply (ofr_zap *self, zmq_msg_t *request_id, const char *code, const char *text,
           const char *user)
{
    zmq_send (self->rep, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->rep, zmq_msg_data (request_id), zmq_msg_size (request_id),
              ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->rep, code, strlen (code), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->rep, text, strlen (text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->rep, user, strlen (user), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->rep, "", 0, ZMQ_DONTWAIT);
}

/*  Request (RFC 27): version, request id, domain, address, routing id,
    mechanism, credentials... Every request gets a reply, else the REP
    socket would be stuck. */
void
ofr_zap_handle (ofr_zap *self)
{
    for (int burst = 0; burst < 64; burst++) {
        zmq_msg_t f[8];
        int n = 0;
        bool more = true;
        while (more) {
            zmq_msg_t x;
            zmq_msg_init (&x);
            if (zmq_msg_recv (&x, self->rep, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&x);
                break;
            }
            more = zmq_msg_more (&x);
            if (n < 8)
                f[n++] = x;
            else
                zmq_msg_close (&x);
        }
        if (n == 0)
            return;
        char version[8] = "", domain[64] = "", address[128] = "", mech[16] = "";
        if (n > 0) frame_str (&f[0], version, sizeof version);
        if (n > 2) frame_str (&f[2], domain, sizeof domain);
        if (n > 3) frame_str (&f[3], address, sizeof address);
        if (n > 5) frame_str (&f[5], mech, sizeof mech);
        if (n < 2) {
            /* REP must answer before it can receive again. */
            zmq_msg_t none;
            zmq_msg_init (&none);
            zap_reply (self, &none, "400", "bad ZAP request", "");
            zmq_msg_close (&none);
            self->refused++;
        } else if (strcmp (version, "1.0") != 0 || n < 6) {
            zap_reply (self, &f[1], "400", "bad ZAP request", "");
            self->refused++;
        } else if (strcmp (mech, "CURVE") != 0 || n < 7 || zmq_msg_size (&f[6]) != 32) {
            ofr_log (OFR_WARN, "refused a %s client from %s on domain '%s': CURVE required",
                     mech, address, domain);
            zap_reply (self, &f[1], "400", "CURVE required", "");
            self->refused++;
        } else {
            const unsigned char *key = zmq_msg_data (&f[6]);
            const char *name = ofr_allowlist_find (self->al, key);
            char z85[OFR_Z85_KEYLEN + 1];
            zmq_z85_encode (z85, key, 32);
            if (name) {
                ofr_log (OFR_DEBUG, "accepted key %s (%s) from %s", z85,
                         *name ? name : "unnamed", address);
                zap_reply (self, &f[1], "200", "OK", *name ? name : z85);
                self->accepted++;
            } else {
                ofr_log (OFR_WARN, "refused a client from %s: public key %s is not on the "
                         "allowlist", address, z85);
                zap_reply (self, &f[1], "400", "key not allowed", "");
                self->refused++;
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close (&f[i]);
    }
}

void
ofr_zap_counts (const ofr_zap *self, int *accepted, int *refused)
{
    *accepted = self ? self->accepted : 0;
    *refused = self ? self->refused : 0;
}

void
ofr_zap_destroy (ofr_zap **self)
{
    if (!*self)
        return;
    zmq_close ((*self)->rep);
    free (*self);
    *self = NULL;
}

/* ---- monitor ------------------------------------------------------------- */

struct _ofr_sec_monitor {
    void   *pair;
    char    what[256];
    double  next_log[3];      /* per kind: no detail, protocol, auth      */
    int     suppressed[3];
};

int
ofr_sec_monitor_new (void *zctx, void *sock, const char *what, ofr_sec_monitor **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    ofr_sec_monitor *m = ofr_calloc (1, sizeof *m);
    if (!m)
        return ofr_errf (err, errlen, "out of memory");
    snprintf (m->what, sizeof m->what, "%s", what);
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://ofr-monitor-%p", (void *) m);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor (sock, ep, events) != 0
        || !(m->pair = zmq_socket (zctx, ZMQ_PAIR)) || zmq_connect (m->pair, ep) != 0) {
        ofr_errf (err, errlen, "monitoring %s: %s", what, zmq_strerror (errno));
        if (m->pair)
            zmq_close (m->pair);
        free (m);
        return -1;
    }
    int zero = 0;
    zmq_setsockopt (m->pair, ZMQ_LINGER, &zero, sizeof zero);
    *out = m;
    return 0;
}

void *
ofr_sec_monitor_socket (ofr_sec_monitor *self)
{
    return self->pair;
}

static const char *
protocol_reason (uint32_t v)
{
    switch (v) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mechanism mismatch (plaintext against CURVE, or the reverse)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "cryptographic error (wrong server key?)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
        return "key exchange failed";
    default:
        return v >= ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED && v < ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED
               ? "authentication handler error" : "protocol error";
    }
}

int
ofr_sec_monitor_read (ofr_sec_monitor *self, bool *refused, char *why, size_t whylen)
{
    int failed = 0;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init (&ev);
        if (zmq_msg_recv (&ev, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&ev);
            break;
        }
        zmq_msg_init (&addr);
        if (zmq_msg_more (&ev))
            zmq_msg_recv (&addr, self->pair, ZMQ_DONTWAIT);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size (&ev) >= 6) {
            memcpy (&event, zmq_msg_data (&ev), 2);
            memcpy (&value, (char *) zmq_msg_data (&ev) + 2, 4);
        }
        char reason[160];
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf (reason, sizeof reason, "authentication refused (status %u: key not on "
                      "the allowlist)", (unsigned) value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            snprintf (reason, sizeof reason, "%s", protocol_reason (value));
        else
            snprintf (reason, sizeof reason, "handshake failed (the peer closed or spoke "
                      "another protocol: a plaintext client?)");
        zmq_msg_close (&ev);
        zmq_msg_close (&addr);
        if (!event)
            continue;
        failed++;
        if (refused && (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                        || (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)))
            *refused = true;
        if (why && whylen)
            snprintf (why, whylen, "%s", reason);
        /* At most one line per kind every 5 s: a refused peer retries. */
        int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 2
                   : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? 1 : 0;
        double now = ofr_now_ms ();
        if (now >= self->next_log[kind]) {
            if (self->suppressed[kind])
                ofr_log (OFR_WARN, "%s: %d more such failed handshake(s)", self->what,
                         self->suppressed[kind]);
            ofr_log (OFR_WARN, "%s: refused a connection: %s", self->what, reason);
            self->suppressed[kind] = 0;
            self->next_log[kind] = now + 5000;
        } else {
            self->suppressed[kind]++;
        }
    }
    return failed;
}

void
ofr_sec_monitor_destroy (ofr_sec_monitor **self)
{
    if (!*self)
        return;
    zmq_close ((*self)->pair);
    free (*self);
    *self = NULL;
}
