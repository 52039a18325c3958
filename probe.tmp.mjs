import { MongoClient } from 'mongodb';
import { BSON } from 'mongodb';
const c = await MongoClient.connect('mongodb://127.0.0.1:27017');
for (const name of ['bench_0442f7dd_views','bench_41117fa4_views','bench_ad187ed8_views','shop_views']) {
  const db = c.db(name);
  const cols = await db.listCollections().toArray();
  const counts = await Promise.all(cols.map(async x => x.name + '=' + await db.collection(x.name).estimatedDocumentCount()));
  console.log(name, counts.join(' '));
}
const db = c.db('bench_ad187ed8_views');
const docs = await db.collection('order_views').find({}).limit(4000).toArray();
const sizes = docs.map(d => BSON.calculateObjectSize(d));
console.log('docs', docs.length, 'avg bytes', Math.round(sizes.reduce((a,b)=>a+b,0)/sizes.length));
for (const [label, chunk] of [['one bulk', docs.length], ['500s', 500], ['100s', 100]]) {
  const t = c.db('probe_x').collection('t_' + label.replace(/ /g,''));
  await t.drop().catch(()=>{});
  const s = performance.now();
  for (let i = 0; i < docs.length; i += chunk) await t.insertMany(docs.slice(i, i+chunk), { ordered: false });
  console.log(label, Math.round(docs.length / ((performance.now()-s)/1000)), 'docs/s');
}
{
  const t = c.db('probe_x').collection('t_replace');
  const s = performance.now();
  for (let i = 0; i < docs.length; i += 500) await t.bulkWrite(docs.slice(i, i+500).map(d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })), { ordered: false });
  console.log('replace 500s into empty', Math.round(docs.length / ((performance.now()-s)/1000)), 'docs/s');
}
await c.db('probe_x').dropDatabase();
await c.close();
