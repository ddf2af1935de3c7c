DROP TABLE presence_connections;
DROP TABLE instances;
