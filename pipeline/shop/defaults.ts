/**
 * Names the sample shop uses in Postgres and Kafka. connectors/shop-postgres-source.json must agree
 * (a unit test checks it).
 */
export const SHOP = {
  schema: 'shop',
  topicPrefix: 'cdc',
  publication: 'cdc_shop',
  slot: 'cdc_shop',
  consumerGroup: 'cdc-projector',
} as const;
