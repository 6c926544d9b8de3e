"""How a command reaches a machine: ssh (asyncssh), local, winrm. No package managers."""
