// Fetches the Apache Kafka broker jars from Maven Central into .cache/kafka/libs (git-ignored).
import { ensureKafkaJars } from '@meterline/testing';

const dir = await ensureKafkaJars();
console.log(`kafka jars ready in ${dir}`);
