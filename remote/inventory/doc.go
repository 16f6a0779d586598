// Package inventory reads Ansible inventories (INI and YAML) into hosts:
// groups, children, ranges like web[01:10], and the connection variables
// ansible_host, ansible_port and ansible_user (and their old ansible_ssh_*
// names). Other variables are ignored. It is pure: bytes in, hosts out.
package inventory
