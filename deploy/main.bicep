// goldenpipe: the golden-image pipeline on Azure VM Image Builder, as an
// Azure Functions app on Flex Consumption served by one Go custom handler.
//
// Deploy in two passes (make deploy does both): the first creates
// everything but the Event Grid subscriptions, then the code is deployed,
// then the second pass (deployEventSubscriptions=true) subscribes the
// ScriptUploaded and TemplateUploaded functions, which must exist by then.
// No secret is set anywhere: every connection is identity-based.

targetScope = 'resourceGroup'

@description('Base name of every resource: 3-11 lowercase letters and digits.')
@minLength(3)
@maxLength(11)
param name string

@description('Region of every resource; Flex Consumption must be offered there.')
param location string = resourceGroup().location

@description('Resource group the Image Builder templates are created in (it must exist). Default: this one.')
param imageBuilderResourceGroup string = resourceGroup().name

@description('Region of imageBuilderResourceGroup: what resourceGroup().location gives in ARM deployment templates kept in the templates container.')
param imageBuilderLocation string = location

@description('Resource id of a user-assigned identity for the app, used instead of its system-assigned one for every connection. Empty: system-assigned only.')
param userAssignedIdentityId string = ''

@description('NCRONTAB (with seconds) of the nightly rebuild.')
param rebuildSchedule string = '0 0 2 * * *'

@description('NCRONTAB of the build monitor.')
param monitorSchedule string = '0 */2 * * * *'

@description('Builds in flight at once across templates.')
@minValue(1)
@maxValue(100)
param maxConcurrentBuilds int = 5

@description('Hours a failed build keeps its Image Builder template for debugging.')
@minValue(0)
@maxValue(720)
param keepFailedHours int = 24

@description('managed: the app gives each Image Builder template a staging resource group of its own, created empty in the template\'s region with the template\'s identity as Contributor, deleted after the template; empty: Image Builder makes its own (IT_…).')
@allowed([ '', 'managed' ])
param stagingGroups string = ''

@description('Resource groups (in this subscription) of the Azure Compute Galleries templates publish to: the app gets a least-privilege role there to keep versions (goldenpipe.keepVersions, excludeFromLatest, rollback), Image Builder one to publish.')
param galleryResourceGroups array = []

@description('Second pass: subscribe the blob functions to the scripts and templates containers (after the code is deployed).')
param deployEventSubscriptions bool = false

@description('Names of the containers, queue and topic.')
param scriptsContainer string = 'scripts'
param templatesContainer string = 'templates'
param stateContainer string = 'goldenpipe-state'
param vhdContainer string = 'vhds'
param buildQueue string = 'build-requests'
param eventsTopic string = 'image-events'

var suffix = uniqueString(resourceGroup().id, name)
var stateAccountName = take('${name}state${suffix}', 24)
var scriptsAccountName = take('${name}src${suffix}', 24)
var vhdAccountName = take('${name}vhd${suffix}', 24)
var deploymentContainer = 'app-package'
var userAssigned = !empty(userAssignedIdentityId)
var siteName = '${name}-func-${suffix}'
// what role assignment names are derived from: known when the deployment starts
var appKey = userAssigned ? userAssignedIdentityId : resourceId('Microsoft.Web/sites', siteName)

// Built-in roles.
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  metricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830'
}

// ---------------------------------------------------------------- storage

resource stateAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: stateAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource stateBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: stateAccount
  name: 'default'
}

resource stateContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: stateBlobs
  name: stateContainer
}

resource deploymentContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: stateBlobs
  name: deploymentContainer
}

// Blob events Event Grid gave up on (after retryPolicy: 30 attempts or 24 h)
// land here instead of being dropped.
var deadLetterContainer = 'eventgrid-deadletter'

resource deadLetterContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: stateBlobs
  name: deadLetterContainer
}

resource scriptsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: scriptsAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource scriptsBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: scriptsAccount
  name: 'default'
}

resource scriptsContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: scriptsBlobs
  name: scriptsContainer
}

resource templatesContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: scriptsBlobs
  name: templatesContainer
}

resource vhdAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: vhdAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource vhdBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: vhdAccount
  name: 'default'
}

resource vhdContainerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vhdBlobs
  name: vhdContainer
}

// ---------------------------------------------------------------- service bus

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-sb-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: serviceBus
  name: buildQueue
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: serviceBus
  name: eventsTopic
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
  }
}

// ---------------------------------------------------------------- monitoring

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------- identities

// The identity Image Builder runs as: name its resource id in your templates'
// "identity". It reads the scripts and writes the images it distributes.
resource aibIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-aib'
  location: location
}

// ---------------------------------------------------------------- the function app

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

var appSettings = {
  AzureWebJobsStorage__accountName: stateAccount.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: userAssigned ? 'ClientId=${reference(userAssignedIdentityId, '2023-01-31').clientId};Authorization=AAD' : 'Authorization=AAD'
  Scripts__blobServiceUri: scriptsAccount.properties.primaryEndpoints.blob
  State__blobServiceUri: stateAccount.properties.primaryEndpoints.blob
  State__tableServiceUri: stateAccount.properties.primaryEndpoints.table
  ServiceBus__fullyQualifiedNamespace: '${serviceBus.name}.servicebus.windows.net'
  SCRIPTS_CONTAINER: scriptsContainer
  TEMPLATES_CONTAINER: templatesContainer
  STATE_CONTAINER: stateContainer
  BUILD_QUEUE: buildQueue
  EVENTS_TOPIC: eventsTopic
  REBUILD_SCHEDULE: rebuildSchedule
  MONITOR_SCHEDULE: monitorSchedule
  LOG_LEVEL: 'info'
  MAX_REQUEST_BYTES: '8388608'
  INVOCATION_TIMEOUT: '9m'
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  AIB_RESOURCE_GROUP: imageBuilderResourceGroup
  AIB_LOCATION: imageBuilderLocation
  AIB_SIMULATOR: 'false'
  MAX_CONCURRENT_BUILDS: string(maxConcurrentBuilds)
  VHD_DESTINATION: '${vhdAccount.properties.primaryEndpoints.blob}${vhdContainer}'
  KEEP_FAILED_HOURS: string(keepFailedHours)
  AIB_STAGING_GROUPS: stagingGroups
}

// With a user-assigned identity every connection names it.
var identitySettings = userAssigned ? {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: reference(userAssignedIdentityId, '2023-01-31').clientId
  Scripts__credential: 'managedidentity'
  Scripts__clientId: reference(userAssignedIdentityId, '2023-01-31').clientId
  State__credential: 'managedidentity'
  State__clientId: reference(userAssignedIdentityId, '2023-01-31').clientId
  ServiceBus__credential: 'managedidentity'
  ServiceBus__clientId: reference(userAssignedIdentityId, '2023-01-31').clientId
  Arm__credential: 'managedidentity'
  Arm__clientId: reference(userAssignedIdentityId, '2023-01-31').clientId
} : {}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: siteName
  location: location
  kind: 'functionapp,linux'
  identity: userAssigned ? {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: { '${userAssignedIdentityId}': {} }
  } : { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${stateAccount.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: userAssigned ? {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: userAssignedIdentityId
          } : { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [for s in items(union(appSettings, identitySettings)): { name: s.key, value: s.value }]
    }
  }
  dependsOn: [ deploymentContainerRes, stateContainerRes, scriptsContainerRes, templatesContainerRes, vhdContainerRes, queue, topic ]
}

// The principal every role below is given to.
var appPrincipal = userAssigned ? reference(userAssignedIdentityId, '2023-01-31').principalId : site.identity.principalId

// ---------------------------------------------------------------- roles (resource group scope)

// host storage, deployment package and the app's state: leases and writes
resource appState 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: stateAccount
  name: guid(stateAccount.id, appKey, roles.blobDataOwner)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// the app's lists (builds newest first, in flight, summaries): its tables
// on the state account, read and written (no key, no management plane)
resource appTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: stateAccount
  name: guid(stateAccount.id, appKey, roles.tableDataContributor)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// scripts and templates: read only (checksums, templates)
resource appScripts 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: scriptsAccount
  name: guid(scriptsAccount.id, appKey, roles.blobDataReader)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// the VHD destination: start copies, read their status
resource appVhds 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vhdAccount
  name: guid(vhdAccount.id, appKey, roles.blobDataContributor)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// build requests in, requests and lifecycle events out
resource appReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: queue
  name: guid(queue.id, appKey, roles.serviceBusReceiver)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusReceiver), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

resource appSendQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: queue
  name: guid(queue.id, appKey, roles.serviceBusSender)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusSender), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

resource appSendTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, appKey, roles.serviceBusSender)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusSender), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// telemetry with Entra ID (local auth is off)
resource appMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, appKey, roles.metricsPublisher)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.metricsPublisher), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// the app names Image Builder's identity in the templates it creates
resource appAssignsAibIdentity 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: aibIdentity
  name: guid(aibIdentity.id, appKey, roles.managedIdentityOperator)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.managedIdentityOperator), principalId: appPrincipal, principalType: 'ServicePrincipal' }
}

// Image Builder's identity fetches the scripts when a template is created
resource aibScripts 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: scriptsAccount
  name: guid(scriptsAccount.id, aibIdentity.id, roles.blobDataReader)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader), principalId: aibIdentity.properties.principalId, principalType: 'ServicePrincipal' }
}

// ---------------------------------------------------------------- roles in the Image Builder group and the subscription

module imageBuilderRoles 'imagebuilder-roles.bicep' = {
  name: 'goldenpipe-imagebuilder-roles'
  scope: resourceGroup(imageBuilderResourceGroup)
  params: {
    appPrincipalId: appPrincipal
    aibPrincipalId: aibIdentity.properties.principalId
  }
}

module galleryRoles 'gallery-roles.bicep' = [for rg in galleryResourceGroups: {
  name: 'goldenpipe-gallery-roles-${uniqueString(rg)}'
  scope: resourceGroup(rg)
  params: {
    appPrincipalId: appPrincipal
    aibPrincipalId: aibIdentity.properties.principalId
  }
}]

module subscriptionRoles 'subscription-roles.bicep' = {
  name: 'goldenpipe-subscription-roles-${name}'
  scope: subscription()
  params: {
    appPrincipalId: appPrincipal
    managedStagingGroups: stagingGroups == 'managed'
  }
}

// ---------------------------------------------------------------- events (second pass)

resource blobEvents 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = if (deployEventSubscriptions) {
  name: '${name}-blob-events'
  location: location
  // the identity its subscriptions dead-letter with (the state account
  // takes no shared keys): deadLetterWithResourceIdentity "uses the
  // managed identity setup on the parent resource (namely, topic or
  // domain)" (Azure.ResourceManager.EventGrid EventSubscriptionData)
  identity: { type: 'SystemAssigned' }
  properties: {
    source: scriptsAccount.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

var subscriptions = [
  { name: 'scripts-to-ScriptUploaded', function: 'ScriptUploaded', container: scriptsContainer }
  { name: 'templates-to-TemplateUploaded', function: 'TemplateUploaded', container: templatesContainer }
]

resource blobSubscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = [for s in subscriptions: if (deployEventSubscriptions) {
  parent: blobEvents
  name: s.name
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${site.id}/functions/${s.function}'
        maxEventsPerBatch: 1
      }
    }
    filter: {
      includedEventTypes: [ 'Microsoft.Storage.BlobCreated', 'Microsoft.Storage.BlobDeleted' ]
      subjectBeginsWith: '/blobServices/default/containers/${s.container}/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // without a dead-letter destination an event is dropped once the
    // retry policy is spent; with one it is kept as a blob
    // (Microsoft.EventGrid systemTopics/eventSubscriptions:
    // deadLetterWithResourceIdentity {identity, deadLetterDestination
    // {endpointType: 'StorageBlob', properties {resourceId, blobContainerName}}})
    deadLetterWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: stateAccount.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
  dependsOn: [ deadLetterWrites, deadLetterContainerRes ]
}]

// the system topic's identity writes dead letters to the state account
resource deadLetterWrites 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployEventSubscriptions) {
  scope: stateAccount
  name: guid(stateAccount.id, '${name}-blob-events', roles.blobDataContributor)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor), principalId: blobEvents.identity.principalId, principalType: 'ServicePrincipal' }
}

output functionAppName string = site.name
output scriptsAccountName string = scriptsAccount.name
output vhdDestination string = appSettings.VHD_DESTINATION
output imageBuilderIdentityId string = aibIdentity.id
output serviceBusNamespace string = appSettings.ServiceBus__fullyQualifiedNamespace
