/// The default manifest, compiled in so the binary works without its shipped files.
/// A test keeps it identical to `manifests/flowgateway.json`.
public enum EmbeddedManifest {
    public static let flowgateway = #"""
{
  "version": 1,
  "appliance": "flowgateway",
  "description": "Flow Gateway: configuration, cloak key, SNMP, NTP and certificates",
  "components": [
    {
      "name": "config",
      "plugin": "sqlite-config",
      "description": "configuration database and config files",
      "tags": ["config"],
      "parameters": {
        "database": "var/lib/flowgateway/config.db",
        "files": ["etc/flowgateway/*.conf"]
      }
    },
    {
      "name": "cloak_key",
      "plugin": "fileset",
      "description": "the vault's cloak key, bound to this hardware's certificate",
      "tags": ["cert", "vault"],
      "parameters": {"paths": ["etc/flowgateway/vault/cloak.key"]}
    },
    {
      "name": "snmp",
      "plugin": "fileset",
      "description": "SNMP agent configuration with v3 users (vault)",
      "tags": ["cert", "vault"],
      "parameters": {"paths": ["etc/snmp/snmpd.conf"]}
    },
    {
      "name": "ntp",
      "plugin": "ntp",
      "description": "NTP configuration and its symmetric keys (vault), checked before restore",
      "tags": ["cert", "vault"],
      "parameters": {"conf": "etc/ntp.conf", "keys": "etc/ntp/ntp.keys"}
    },
    {
      "name": "certificates",
      "plugin": "certificates",
      "description": "the appliance's TLS certificate and private key",
      "tags": ["cert"],
      "parameters": {
        "certificate": "etc/flowgateway/certs/server.crt",
        "key": "etc/flowgateway/certs/server.key"
      }
    }
  ]
}

"""#
}
