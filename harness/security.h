/*  security.h -- CURVE encryption and authentication for the coordinator's
    sockets (libzmq's CurveZMQ, libsodium underneath).

    Files, all plain text:
    - a key pair, NAME.key (0600): `public = Z85` and `secret = Z85` lines;
    - a public key, NAME.pub: one line `Z85 NAME`, which is also an
      allowlist line, so `cat worker.pub >> allowlist` enrols a worker;
    - an allowlist: one public key per line, optionally followed by a name;
      `#` starts a comment; errors are reported as FILE:LINE.
    `offramp keygen` writes the first two (security.c: ofr_cmd_keygen).

    The coordinator turns CURVE on by default whenever it binds anything but
    loopback or ipc:// (ofr_endpoint_is_local) and answers ZeroMQ's ZAP
    requests itself (ofr_zap, polled in its loop): a key on the allowlist is
    accepted (200), any other key refused (400) and logged. Plaintext
    clients fail the handshake; ofr_sec_monitor reports that on either side. */
#ifndef OFR_SECURITY_H
#define OFR_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#define OFR_Z85_KEYLEN 40

typedef struct {
    char public_key[OFR_Z85_KEYLEN + 1];
    char secret_key[OFR_Z85_KEYLEN + 1];
} ofr_keypair;

/* True for ipc://, inproc:// and tcp:// on 127.0.0.0/8, ::1, localhost, lo. */
bool ofr_endpoint_is_local (const char *endpoint);

/* True if s is a 40-character Z85 string that decodes to a 32-byte key. */
bool ofr_z85_key_valid (const char *s);

int ofr_keypair_generate (ofr_keypair *kp, char *err, size_t errlen);

/* Write PATH (a key pair, 0600) refusing to overwrite unless force. */
int ofr_keypair_write (const ofr_keypair *kp, const char *path, const char *name,
                       bool force, char *err, size_t errlen);

/* Write PATH.pub-style public key file (0600 too: the spec keeps all key
   files private; the key itself may be shared). */
int ofr_pubkey_write (const char *public_key, const char *path, const char *name,
                      bool force, char *err, size_t errlen);

/* Read a key pair file. Warns if the file is readable by others. */
int ofr_keypair_load (const char *path, ofr_keypair *kp, char *err, size_t errlen);

/* A public key given as 40 Z85 characters, or as a file: a .pub file, a
   .key file (its public line) or any file whose first entry is a key. */
int ofr_pubkey_resolve (const char *key_or_file, char out[OFR_Z85_KEYLEN + 1],
                        char *err, size_t errlen);

/* ---- allowlist ---------------------------------------------------------- */

typedef struct _ofr_allowlist ofr_allowlist;

int  ofr_allowlist_load (const char *path, ofr_allowlist **out, char *err, size_t errlen);
/* An empty list (keys are added with ofr_allowlist_add). */
int  ofr_allowlist_new (ofr_allowlist **out);
int  ofr_allowlist_add (ofr_allowlist *self, const char *z85, const char *name);
int  ofr_allowlist_size (const ofr_allowlist *self);
/* The entry's name ("" if none) for a 32-byte binary key, or NULL. */
const char *ofr_allowlist_find (const ofr_allowlist *self, const unsigned char key[32]);
void ofr_allowlist_destroy (ofr_allowlist **self);

/* ---- socket set-up ------------------------------------------------------ */

/* Before bind: this socket is a CURVE server (domain "offramp"). */
int ofr_curve_server_setup (void *sock, const ofr_keypair *kp, char *err, size_t errlen);
/* Before connect: a CURVE client of the server with this public key. */
int ofr_curve_client_setup (void *sock, const ofr_keypair *kp, const char *server_key,
                            char *err, size_t errlen);

/* A client's choice from its flags: CURVE with these keys, or plaintext.
   server_key/key_file may be NULL; plaintext to a non-local endpoint needs
   insecure. who names the command in messages ("offramp worker"). */
typedef struct {
    bool        curve;
    ofr_keypair kp;
    char        server_key[OFR_Z85_KEYLEN + 1];
} ofr_curve_client;

int ofr_curve_client_init (ofr_curve_client *cc, const char *endpoint, const char *key_file,
                           const char *server_key, bool insecure, char *err, size_t errlen);

/* ---- ZAP handler -------------------------------------------------------- */

typedef struct _ofr_zap ofr_zap;

/* Bind the handler in zctx (before the CURVE sockets bind). Borrows al. */
int   ofr_zap_new (void *zctx, const ofr_allowlist *al, ofr_zap **out, char *err, size_t errlen);
void *ofr_zap_socket (ofr_zap *self);          /* poll it for ZMQ_POLLIN       */
/* Answer every pending request without blocking. */
void  ofr_zap_handle (ofr_zap *self);
/* Requests answered: accepted, refused. */
void  ofr_zap_counts (const ofr_zap *self, int *accepted, int *refused);
void  ofr_zap_destroy (ofr_zap **self);

/* ---- handshake monitor -------------------------------------------------- */

typedef struct _ofr_sec_monitor ofr_sec_monitor;

/* Watch sock's handshakes (zmq_socket_monitor over inproc). what names the
   socket in logs ("workers' socket tcp://HOST:5555"). */
int   ofr_sec_monitor_new (void *zctx, void *sock, const char *what,
                           ofr_sec_monitor **out, char *err, size_t errlen);
void *ofr_sec_monitor_socket (ofr_sec_monitor *self);
/* Read pending events; logs failed handshakes (rate-limited). Returns the
   number of failed handshakes read, the last reason in why, and sets
   *refused (if given) when the peer refused us or we it for good: a key
   not on the allowlist, or plaintext against CURVE. */
int   ofr_sec_monitor_read (ofr_sec_monitor *self, bool *refused, char *why, size_t whylen);
void  ofr_sec_monitor_destroy (ofr_sec_monitor **self);

#endif
