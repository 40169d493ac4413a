# Two idgate agents, `main` and `dev`, on one Azure Linux virtual machine, both authenticating
# with the VM's attested data. See README.md for why each agent must say its name.

terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.0"
    }
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.0"
    }
  }
}

variable "location" {
  description = "Azure region of the workspace VM."
  type        = string
  default     = "westeurope"
}

variable "size" {
  description = "VM size."
  type        = string
  default     = "Standard_B2s"
}

variable "admin_ssh_public_key" {
  description = "SSH public key of the VM's admin user, `coder`."
  type        = string
}

variable "idgate_url" {
  description = "URL at which the VM reaches the idgate server (its --access-url)."
  type        = string
}

variable "idgate_download_url" {
  description = "URL of the idgate binary for linux/amd64, installed as /usr/local/bin/idgate."
  type        = string
}

provider "azurerm" {
  features {}
}

data "coder_workspace" "me" {}

resource "azurerm_resource_group" "ws" {
  name     = "idgate-${data.coder_workspace.me.name}"
  location = var.location
}

resource "azurerm_virtual_network" "ws" {
  name                = "idgate-vnet"
  address_space       = ["10.0.0.0/16"]
  location            = azurerm_resource_group.ws.location
  resource_group_name = azurerm_resource_group.ws.name
}

resource "azurerm_subnet" "ws" {
  name                 = "internal"
  resource_group_name  = azurerm_resource_group.ws.name
  virtual_network_name = azurerm_virtual_network.ws.name
  address_prefixes     = ["10.0.1.0/24"]
}

resource "azurerm_network_interface" "ws" {
  count               = data.coder_workspace.me.start_count
  name                = "idgate-nic"
  location            = azurerm_resource_group.ws.location
  resource_group_name = azurerm_resource_group.ws.name

  ip_configuration {
    name                          = "internal"
    subnet_id                     = azurerm_subnet.ws.id
    private_ip_address_allocation = "Dynamic"
  }
}

# The agent name is the resource name: `main` and `dev`.
resource "coder_agent" "main" {
  arch = "amd64"
  os   = "linux"
  auth = "azure-instance-identity"
}

resource "coder_agent" "dev" {
  arch = "amd64"
  os   = "linux"
  auth = "azure-instance-identity"
}

resource "azurerm_linux_virtual_machine" "dev" {
  # No VM while the workspace is stopped: a stop build then has no agents.
  count = data.coder_workspace.me.start_count

  name                  = "idgate-${data.coder_workspace.me.name}"
  resource_group_name   = azurerm_resource_group.ws.name
  location              = azurerm_resource_group.ws.location
  size                  = var.size
  admin_username        = "coder"
  network_interface_ids = [azurerm_network_interface.ws[0].id]

  admin_ssh_key {
    username   = "coder"
    public_key = var.admin_ssh_public_key
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "Standard_LRS"
  }

  source_image_reference {
    publisher = "Canonical"
    offer     = "ubuntu-24_04-lts"
    sku       = "server"
    version   = "latest"
  }

  # Referencing both agents here makes this VM the resource that depends on them, so the import
  # attaches both to it and takes its virtual_machine_id (the vmId of the attested data).
  custom_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
    idgate_url          = var.idgate_url
    idgate_download_url = var.idgate_download_url
    auth                = "azure-instance-identity"
    user                = "coder"
    agents = {
      main = coder_agent.main.id
      dev  = coder_agent.dev.id
    }
  }))
}
