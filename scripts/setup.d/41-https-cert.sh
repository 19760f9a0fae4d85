#!/usr/bin/env bash
# HTTPS for the console on a phone (issue 19): a server certificate for the names a phone
# reaches this host by, signed by setup's CA (40-mqtt-certs.sh; made here if missing), with
# the openssl CLI, offline, into var/https-tls/ (never committed). Nothing to do unless
# CITYGW_HTTPS_SAN is set. Idempotent: the certificate is made again only when the names
# change or the CA no longer verifies it.
#   CITYGW_HTTPS_SAN      names and addresses, comma-separated (e.g. 192.168.1.20,citygw.lan);
#                         localhost and 127.0.0.1 are always added
#   CITYGW_HTTPS_TLS_DIR  where to put them (default var/https-tls)
#   CITYGW_MQTT_TLS_DIR   the CA's folder (default var/mqtt-tls)
# Out: server.pem, server.key (core.http_tls), citygw-ca.crt (the CA, to install on phones).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAMES=${CITYGW_HTTPS_SAN:-}
[[ -n "${NAMES//[ ,]/}" ]] || exit 0
DIR=${CITYGW_HTTPS_TLS_DIR:-var/https-tls}
CA_DIR=${CITYGW_MQTT_TLS_DIR:-var/mqtt-tls}
DAYS=${CITYGW_HTTPS_CERT_DAYS:-825} # Apple's limit for a server certificate
umask 077

san=()
IFS=',' read -ra wanted <<<"$NAMES"
for name in "${wanted[@]}" localhost 127.0.0.1; do
  name=${name#"${name%%[![:space:]]*}"}
  name=${name%"${name##*[![:space:]]}"}
  [[ -n $name ]] || continue
  if [[ $name =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || $name =~ ^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*$ ]]; then
    entry="IP:$name"
  elif [[ $name =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$ ]]; then
    entry="DNS:${name,,}"
  else
    echo "CITYGW_HTTPS_SAN: not a host name or IP address: $name" >&2
    exit 1
  fi
  [[ " ${san[*]} " == *" $entry "* ]] || san+=("$entry")
done
SAN=$(IFS=,; echo "${san[*]}")

if [[ ! -s "$CA_DIR/ca.pem" || ! -s "$CA_DIR/ca.key" ]]; then
  CITYGW_MQTT_TLS_DIR=$CA_DIR bash scripts/setup.d/40-mqtt-certs.sh
fi
mkdir -p "$DIR"
chmod 700 "$DIR"
ossl() { timeout 60 openssl "$@" 2>/dev/null; }

if [[ -s "$DIR/server.pem" && -s "$DIR/server.key" && "$(cat "$DIR/server.san" 2>/dev/null)" == "$SAN" ]] &&
  ossl verify -CAfile "$CA_DIR/ca.pem" "$DIR/server.pem" >/dev/null; then
  echo "  HTTPS certificate for $SAN in $DIR (kept)"
else
  echo "  HTTPS certificate for $SAN"
  extfile=$(mktemp)
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
    "extendedKeyUsage=serverAuth" "subjectAltName=$SAN" >"$extfile"
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/server.key.new"
  ossl req -new -key "$DIR/server.key.new" -subj "/O=citygw/CN=${san[0]#*:}" -out "$DIR/server.csr"
  ossl x509 -req -in "$DIR/server.csr" -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
    -CAcreateserial -days "$DAYS" -sha256 -extfile "$extfile" -out "$DIR/server.pem.new"
  rm -f "$DIR/server.csr" "$extfile"
  mv "$DIR/server.key.new" "$DIR/server.key"
  mv "$DIR/server.pem.new" "$DIR/server.pem"
  printf '%s\n' "$SAN" >"$DIR/server.san"
fi
# the CA for phones and desks to trust (PEM; .crt is the name Android and iOS take)
install -m 0644 "$CA_DIR/ca.pem" "$DIR/citygw-ca.crt"
chmod 600 "$DIR/server.key"
echo "  HTTPS files in $DIR; install $DIR/citygw-ca.crt on the phones (README, docs/deploy.md)"
