#!/bin/sh
# A fleet CA for the appliances' API certificates (docs/fleet.md): Ansible verifies every appliance
# with one CA file, and each certificate names the addresses the inventory uses (an IP address in
# ansible_host needs an IP entry; a self-signed certificate names only the hostname and localhost).
#
#   fleet-ca.sh DIR init                       DIR/ca.crt (gwb_ca_path) and DIR/ca.key (keep it offline)
#   fleet-ca.sh DIR issue NAME ADDRESS...      DIR/NAME.crt and DIR/NAME.key, for NAME's serve.json
#                                              ("certificate", "privateKey"); each ADDRESS an IP
#                                              address or a DNS name; NAME is added as a DNS name
#
# Keys are P-256, made with mode 0600; certificates are valid 825 days (the CA 10 years).
set -eu
umask 077
[ $# -ge 2 ] || { echo "usage: $0 DIR init | $0 DIR issue NAME ADDRESS..." >&2; exit 64; }
dir="$1"; action="$2"; shift 2
mkdir -p "$dir"
case "$action" in
init)
  [ ! -e "$dir/ca.key" ] || { echo "$dir/ca.key exists: the fleet CA is made once" >&2; exit 1; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=GatewayBackup fleet CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  chmod 0644 "$dir/ca.crt"
  echo "$dir/ca.crt"
  ;;
issue)
  [ $# -ge 2 ] || { echo "usage: $0 DIR issue NAME ADDRESS..." >&2; exit 64; }
  name="$1"; shift
  case "$name" in *[!A-Za-z0-9._-]*|"") echo "bad appliance name: $name" >&2; exit 64 ;; esac
  names="DNS:$name"
  for address in "$@"; do
    case "$address" in
      *[!0-9.]*) case "$address" in *:*) names="$names,IP:$address" ;; *) names="$names,DNS:$address" ;; esac ;;
      *) names="$names,IP:$address" ;;
    esac
  done
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$names" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 825 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 0644 "$dir/$name.crt"
  echo "$dir/$name.crt ($names)"
  ;;
*) echo "unknown action: $action (init or issue)" >&2; exit 64 ;;
esac
