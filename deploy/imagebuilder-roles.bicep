// Roles in the resource group the Image Builder templates live in.
targetScope = 'resourceGroup'

@description('Principal id of the function app.')
param appPrincipalId string

@description('Principal id of the identity Image Builder runs as.')
param aibPrincipalId string

// The app creates, runs, observes, cancels and deletes image templates.
resource operator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'goldenpipe-image-builder-operator')
  properties: {
    roleName: 'goldenpipe Image Builder operator (${resourceGroup().name}, ${subscription().subscriptionId})'
    description: 'Create, run, read, cancel and delete Image Builder templates in this resource group.'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: [
          'Microsoft.VirtualMachineImages/imageTemplates/read'
          'Microsoft.VirtualMachineImages/imageTemplates/write'
          'Microsoft.VirtualMachineImages/imageTemplates/delete'
          'Microsoft.VirtualMachineImages/imageTemplates/run/action'
          'Microsoft.VirtualMachineImages/imageTemplates/cancel/action'
          'Microsoft.VirtualMachineImages/imageTemplates/runOutputs/read'
        ]
      }
    ]
  }
}

// Image Builder's identity writes the managed images and gallery versions
// it distributes (the documented "image creation" permissions).
resource writer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'goldenpipe-image-writer')
  properties: {
    roleName: 'goldenpipe image writer (${resourceGroup().name}, ${subscription().subscriptionId})'
    description: 'What Azure VM Image Builder needs to distribute images into this resource group.'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
          'Microsoft.Compute/images/write'
          'Microsoft.Compute/images/read'
          'Microsoft.Compute/images/delete'
        ]
      }
    ]
  }
}

resource appOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, operator.id)
  properties: { roleDefinitionId: operator.id, principalId: appPrincipalId, principalType: 'ServicePrincipal' }
}

resource aibWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, aibPrincipalId, writer.id)
  properties: { roleDefinitionId: writer.id, principalId: aibPrincipalId, principalType: 'ServicePrincipal' }
}
