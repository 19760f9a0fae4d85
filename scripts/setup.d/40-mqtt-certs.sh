#!/usr/bin/env bash
# MQTT TLS: a CA, a broker certificate and one client certificate per daemon, with the
# openssl CLI (EC P-256 keys), into var/mqtt-tls/ (never committed). Idempotent: makes
# only what is missing; a new CA (ca.pem gone) re-makes everything it signed.
#   CITYGW_MQTT_TLS_DIR     where to put them (default var/mqtt-tls)
#   CITYGW_MQTT_CLIENTS     client names, space-separated: broker users, <daemon>-<instance>
#                           (unset: the demo's daemons; empty: none)
#   CITYGW_MQTT_SERVER_SAN  the broker's names (default IP:127.0.0.1,DNS:localhost)
# The demo and the tests use these; a deployment may use its own CA (docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${CITYGW_MQTT_TLS_DIR:-var/mqtt-tls}
CLIENTS=${CITYGW_MQTT_CLIENTS-core-demo agi-demo video-demo demo-samples-demo}
SAN=${CITYGW_MQTT_SERVER_SAN:-IP:127.0.0.1,DNS:localhost}
DAYS=${CITYGW_MQTT_CERT_DAYS:-825}
umask 077
mkdir -p "$DIR/clients"
chmod 700 "$DIR"

ossl() { timeout 60 openssl "$@" 2>/dev/null; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# sign <name> <subject CN> <extensions>: $DIR/<name>.key -> $DIR/<name>.pem
sign() {
  local base=$1 cn=$2 ext=$3 extfile
  extfile=$(mktemp)
  printf '%s\n' "$ext" >"$extfile"
  newkey "$base.key"
  ossl req -new -key "$base.key" -subj "/O=citygw/CN=$cn" -out "$base.csr"
  ossl x509 -req -in "$base.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days "$DAYS" -sha256 -extfile "$extfile" -out "$base.pem"
  rm -f "$base.csr" "$extfile"
}

if [[ ! -s "$DIR/ca.pem" || ! -s "$DIR/ca.key" ]]; then
  echo "  making a new MQTT CA in $DIR"
  rm -f "$DIR"/server.* "$DIR"/clients/*
  newkey "$DIR/ca.key"
  ossl req -x509 -new -key "$DIR/ca.key" -sha256 -days 3650 -subj "/O=citygw/CN=citygw MQTT CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/ca.pem"
fi
if [[ ! -s "$DIR/server.pem" || ! -s "$DIR/server.key" ]]; then
  echo "  broker certificate for $SAN"
  sign "$DIR/server" "citygw broker" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=serverAuth
subjectAltName=$SAN"
fi
made=()
for name in $CLIENTS; do
  [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ ]] || { echo "bad client name: $name" >&2; exit 1; }
  if [[ ! -s "$DIR/clients/$name.pem" || ! -s "$DIR/clients/$name.key" ]]; then
    sign "$DIR/clients/$name" "$name" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=clientAuth"
    made+=("$name")
  fi
done
((${#made[@]})) && echo "  client certificates: ${made[*]}"
# the broker (run as the user who ran setup, or as mosquitto) reads the server key
find "$DIR" -name '*.key' -exec chmod 600 {} +
echo "  MQTT TLS files in $DIR"
