/*  test_security.c -- key files (0600, round trip, tampering), public key
    resolution, allowlist parsing with FILE:LINE errors, which endpoints are
    local, and CURVE + ZAP end to end in one process: an allowed client
    gets through, a client with an unknown key and a plaintext client are
    refused (and see that they were). */
#include "harness/security.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static int failures = 0;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fprintf (stderr, "\n");                                        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static char s_dir[256];

static void
path (char *out, size_t len, const char *name)
{
    snprintf (out, len, "%s/%s", s_dir, name);
}

static void
write_text (const char *p, const char *text)
{
    FILE *f = fopen (p, "w");
    if (!f) {
        perror (p);
        exit (1);
    }
    fputs (text, f);
    fclose (f);
}

static void
test_local (void)
{
    const char *local[] = { "ipc:///tmp/x.sock", "inproc://a", "tcp://127.0.0.1:5555",
                            "tcp://127.1.2.3:1", "tcp://localhost:9", "tcp://[::1]:5",
                            "tcp://lo:5555", "tcp://127.0.0.1:*", NULL };
    const char *remote[] = { "tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.200.0.1:5555",
                             "tcp://example.org:1", "tcp://127.0.0.1.evil.com:5",
                             "tcp://[::]:5", "tcp://eth0:5555", "tcp://localhostx:1",
                             "udp://127.0.0.1:5", NULL };
    for (int i = 0; local[i]; i++)
        CHECK (ofr_endpoint_is_local (local[i]), "%s should be local", local[i]);
    for (int i = 0; remote[i]; i++)
        CHECK (!ofr_endpoint_is_local (remote[i]), "%s should not be local", remote[i]);
}

static void
test_keys (void)
{
    char err[OFR_ERRLEN], key[300], pub[300];
    ofr_keypair kp, back;
    path (key, sizeof key, "w1.key");
    path (pub, sizeof pub, "w1.pub");
    CHECK (ofr_keypair_generate (&kp, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_z85_key_valid (kp.public_key) && ofr_z85_key_valid (kp.secret_key), "z85");
    CHECK (ofr_keypair_write (&kp, key, "w1", false, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_pubkey_write (kp.public_key, pub, "w1", false, err, sizeof err) == 0, "%s", err);
    struct stat st;
    CHECK (stat (key, &st) == 0 && (st.st_mode & 0777) == 0600, "key mode %o", st.st_mode & 0777);
    CHECK (stat (pub, &st) == 0 && (st.st_mode & 0777) == 0600, "pub mode %o", st.st_mode & 0777);
    /* No silent overwrite; --force replaces and keeps 0600. */
    CHECK (ofr_keypair_write (&kp, key, "w1", false, err, sizeof err) != 0
           && strstr (err, "--force"), "overwrite: %s", err);
    chmod (key, 0644);
    CHECK (ofr_keypair_write (&kp, key, "w1", true, err, sizeof err) == 0, "%s", err);
    CHECK (stat (key, &st) == 0 && (st.st_mode & 0777) == 0600, "forced mode %o",
           st.st_mode & 0777);
    CHECK (ofr_keypair_load (key, &back, err, sizeof err) == 0, "%s", err);
    CHECK (strcmp (back.public_key, kp.public_key) == 0
           && strcmp (back.secret_key, kp.secret_key) == 0, "round trip");

    /* Public key from Z85, from the .pub and from the .key file. */
    char out[OFR_Z85_KEYLEN + 1];
    CHECK (ofr_pubkey_resolve (kp.public_key, out, err, sizeof err) == 0
           && strcmp (out, kp.public_key) == 0, "z85: %s", err);
    CHECK (ofr_pubkey_resolve (pub, out, err, sizeof err) == 0
           && strcmp (out, kp.public_key) == 0, "pub: %s", err);
    CHECK (ofr_pubkey_resolve (key, out, err, sizeof err) == 0
           && strcmp (out, kp.public_key) == 0, "key: %s", err);
    CHECK (ofr_pubkey_resolve ("not-a-key", out, err, sizeof err) != 0
           && strstr (err, "not-a-key"), "bad: %s", err);

    /* A tampered pair: public key of another pair. */
    ofr_keypair other;
    ofr_keypair_generate (&other, err, sizeof err);
    char bad[300], text[400];
    path (bad, sizeof bad, "bad.key");
    snprintf (text, sizeof text, "public = %s\nsecret = %s\n", other.public_key, kp.secret_key);
    write_text (bad, text);
    chmod (bad, 0600);
    CHECK (ofr_keypair_load (bad, &back, err, sizeof err) != 0
           && strstr (err, "does not belong"), "tampered: %s", err);
    write_text (bad, "# c\npublic = short\n");
    CHECK (ofr_keypair_load (bad, &back, err, sizeof err) != 0
           && strstr (err, "bad.key:2:"), "short: %s", err);
    write_text (bad, "\n\npublic = short\n");   /* blank lines count */
    CHECK (ofr_keypair_load (bad, &back, err, sizeof err) != 0
           && strstr (err, "bad.key:3:"), "line numbers: %s", err);
    write_text (bad, "");
    CHECK (ofr_keypair_load (bad, &back, err, sizeof err) != 0
           && strstr (err, "not a key pair"), "empty: %s", err);
    CHECK (ofr_keypair_load ("/nonexistent/k.key", &back, err, sizeof err) != 0
           && strstr (err, "/nonexistent/k.key"), "missing: %s", err);
}

static void
test_allowlist (void)
{
    char err[OFR_ERRLEN], p[300], text[600];
    ofr_keypair a, b, c;
    ofr_keypair_generate (&a, err, sizeof err);
    ofr_keypair_generate (&b, err, sizeof err);
    ofr_keypair_generate (&c, err, sizeof err);
    path (p, sizeof p, "allow");
    snprintf (text, sizeof text, "# workers\n\n%s alpha\n  %s   # unnamed, comment\n",
              a.public_key, b.public_key);
    write_text (p, text);
    ofr_allowlist *al = NULL;
    CHECK (ofr_allowlist_load (p, &al, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_allowlist_size (al) == 2, "size %d", ofr_allowlist_size (al));
    unsigned char bin[32];
    zmq_z85_decode (bin, a.public_key);
    const char *n = ofr_allowlist_find (al, bin);
    CHECK (n && strcmp (n, "alpha") == 0, "alpha: %s", n ? n : "NULL");
    zmq_z85_decode (bin, b.public_key);
    n = ofr_allowlist_find (al, bin);
    CHECK (n && !*n, "unnamed: %s", n ? n : "NULL");
    zmq_z85_decode (bin, c.public_key);
    CHECK (!ofr_allowlist_find (al, bin), "c is not allowed");
    ofr_allowlist_destroy (&al);
    CHECK (!al, "destroy nulls");

    snprintf (text, sizeof text, "%s ok\nnot-a-key x\n", a.public_key);
    write_text (p, text);
    CHECK (ofr_allowlist_load (p, &al, err, sizeof err) != 0 && !al
           && strstr (err, "allow:2:") && strstr (err, "not-a-key"), "bad line: %s", err);
    snprintf (text, sizeof text, "%s two names\n", a.public_key);
    write_text (p, text);
    CHECK (ofr_allowlist_load (p, &al, err, sizeof err) != 0 && strstr (err, "allow:1:"),
           "two names: %s", err);
    CHECK (ofr_allowlist_load ("/nonexistent/allow", &al, err, sizeof err) != 0
           && strstr (err, "/nonexistent/allow"), "missing: %s", err);
}

/*  Client flag combinations. */
static void
test_client_init (void)
{
    char err[OFR_ERRLEN], key[300];
    ofr_curve_client cc;
    path (key, sizeof key, "w1.key");
    CHECK (ofr_curve_client_init (&cc, "tcp://127.0.0.1:5", NULL, NULL, false, err,
                                  sizeof err) == 0 && !cc.curve, "loopback plaintext");
    CHECK (ofr_curve_client_init (&cc, "tcp://10.200.0.1:5", NULL, NULL, false, err,
                                  sizeof err) != 0 && strstr (err, "--insecure"),
           "remote needs keys: %s", err);
    CHECK (ofr_curve_client_init (&cc, "tcp://10.200.0.1:5", NULL, NULL, true, err,
                                  sizeof err) == 0 && !cc.curve, "insecure");
    CHECK (ofr_curve_client_init (&cc, "tcp://10.200.0.1:5", key, NULL, false, err,
                                  sizeof err) != 0 && strstr (err, "--server-key"),
           "key alone: %s", err);
    CHECK (ofr_curve_client_init (&cc, "tcp://10.200.0.1:5", key, key, false, err,
                                  sizeof err) == 0 && cc.curve, "curve: %s", err);
}

/*  One CURVE ROUTER with our ZAP handler; clients: allowed, unknown key,
    plaintext. Only the allowed one's message arrives. */
static void
test_zap (void)
{
    char err[OFR_ERRLEN];
    void *ctx = zmq_ctx_new ();
    ofr_keypair server, good, evil;
    ofr_keypair_generate (&server, err, sizeof err);
    ofr_keypair_generate (&good, err, sizeof err);
    ofr_keypair_generate (&evil, err, sizeof err);
    ofr_allowlist *al = NULL;
    ofr_allowlist_new (&al);
    ofr_allowlist_add (al, good.public_key, "good");
    ofr_zap *zap = NULL;
    CHECK (ofr_zap_new (ctx, al, &zap, err, sizeof err) == 0, "%s", err);
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    CHECK (ofr_curve_server_setup (router, &server, err, sizeof err) == 0, "%s", err);
    ofr_sec_monitor *smon = NULL;
    CHECK (ofr_sec_monitor_new (ctx, router, "test router", &smon, err, sizeof err) == 0,
           "%s", err);
    CHECK (zmq_bind (router, "tcp://127.0.0.1:*") == 0, "bind: %s", zmq_strerror (errno));
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, ep, &len);

    void *cl[3];
    ofr_sec_monitor *cmon[3];
    const ofr_keypair *keys[3] = { &good, &evil, NULL };
    for (int i = 0; i < 3; i++) {
        cl[i] = zmq_socket (ctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt (cl[i], ZMQ_LINGER, &zero, sizeof zero);
        if (keys[i])
            CHECK (ofr_curve_client_setup (cl[i], keys[i], server.public_key, err,
                                           sizeof err) == 0, "%s", err);
        char what[32];
        snprintf (what, sizeof what, "client %d", i);
        CHECK (ofr_sec_monitor_new (ctx, cl[i], what, &cmon[i], err, sizeof err) == 0,
               "%s", err);
        zmq_connect (cl[i], ep);
        char msg[2] = { (char) ('0' + i), 0 };
        zmq_send (cl[i], msg, 1, ZMQ_DONTWAIT);
    }
    bool got[3] = { false, false, false }, refused[3] = { false, false, false };
    int server_failed = 0, accepted = 0, rejected = 0;
    double deadline = ofr_now_ms () + 5000;
    while (ofr_now_ms () < deadline && !(got[0] && refused[1] && refused[2] && server_failed >= 1)) {
        zmq_pollitem_t items[2] = { { .socket = ofr_zap_socket (zap), .events = ZMQ_POLLIN },
                                    { .socket = router, .events = ZMQ_POLLIN } };
        zmq_poll (items, 2, 20);
        ofr_zap_handle (zap);
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        zmq_msg_init (&body);
        while (zmq_msg_recv (&id, router, ZMQ_DONTWAIT) >= 0
               && zmq_msg_recv (&body, router, ZMQ_DONTWAIT) >= 0) {
            const char *d = zmq_msg_data (&body);
            if (zmq_msg_size (&body) == 1 && d[0] >= '0' && d[0] <= '2')
                got[d[0] - '0'] = true;
            const char *user = zmq_msg_gets (&body, "User-Id");
            CHECK (user && strcmp (user, "good") == 0, "user id %s", user ? user : "NULL");
        }
        zmq_msg_close (&id);
        zmq_msg_close (&body);
        server_failed += ofr_sec_monitor_read (smon, NULL, NULL, 0);
        for (int i = 0; i < 3; i++)
            ofr_sec_monitor_read (cmon[i], &refused[i], NULL, 0);
    }
    ofr_zap_counts (zap, &accepted, &rejected);
    CHECK (got[0], "allowed client's message arrived");
    CHECK (!got[1] && !got[2], "refused clients' messages must not arrive");
    CHECK (!refused[0], "allowed client not refused");
    CHECK (refused[1], "unknown key sees the refusal");
    CHECK (refused[2], "plaintext client sees the refusal");
    CHECK (server_failed >= 1, "server saw the plaintext handshake fail");
    CHECK (accepted >= 1 && rejected >= 1, "zap accepted %d refused %d", accepted, rejected);
    for (int i = 0; i < 3; i++) {
        ofr_sec_monitor_destroy (&cmon[i]);
        zmq_close (cl[i]);
    }
    ofr_sec_monitor_destroy (&smon);
    zmq_close (router);
    ofr_zap_destroy (&zap);
    ofr_allowlist_destroy (&al);
    zmq_ctx_term (ctx);
}

int
main (void)
{
    ofr_log_setup ("test", OFR_ERROR);
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/ofr-sec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir)) {
        perror ("mkdtemp");
        return 1;
    }
    test_local ();
    test_keys ();
    test_allowlist ();
    test_client_init ();
    test_zap ();
    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    if (failures) {
        fprintf (stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf ("test_security: ok\n");
    return 0;
}
