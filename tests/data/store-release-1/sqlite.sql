BEGIN TRANSACTION;
CREATE TABLE calls (
	uniqueid VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	reason VARCHAR, 
	detail VARCHAR, 
	fingerprint VARCHAR NOT NULL, 
	raw_json VARCHAR NOT NULL, 
	started_at DATETIME, 
	ended_at DATETIME, 
	call_type VARCHAR, 
	direction VARCHAR, 
	outcome VARCHAR, 
	disposition VARCHAR, 
	duration INTEGER, 
	billsec INTEGER, 
	client_e164 VARCHAR, 
	phone_key VARCHAR, 
	employee_user_id VARCHAR, 
	employee_label VARCHAR, 
	scenario_row INTEGER, 
	client_status VARCHAR, 
	changed_after_sync VARCHAR, 
	attached_module VARCHAR, 
	attached_id VARCHAR, 
	ambiguous BOOLEAN NOT NULL, 
	recording_url VARCHAR, 
	utm_source VARCHAR, 
	utm_medium VARCHAR, 
	utm_campaign VARCHAR, 
	utm_term VARCHAR, 
	utm_content VARCHAR, 
	client_id VARCHAR, 
	first_seen_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	synced_at DATETIME, 
	attempts INTEGER NOT NULL, 
	run_id VARCHAR, 
	PRIMARY KEY (uniqueid)
);
INSERT INTO "calls" VALUES('release1-a','pending',NULL,NULL,'a2237f57016a1825155742c1caee7e5b5ef4f812c5f3b893105ed299a2cb7919','{"call_type":"in","calldate":"2026-03-02 10:00:00","caller":"+380501112233","disposition":"ANSWERED","duration":60,"uniqueid":"release1-a"}',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'2026-03-02 09:00:00.000000','2026-03-02 09:00:00.000000',NULL,0,'run-1');
INSERT INTO "calls" VALUES('release1-b','pending',NULL,NULL,'09ae5df6af99aea4502d1a40b7e0ed3e80ee63e05c0f5ef54ed4e06a74f78338','{"call_type":"in","calldate":"2026-03-02 10:05:00","caller":"+380501112244","disposition":"NO ANSWER","duration":0,"uniqueid":"release1-b"}',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'2026-03-02 09:00:00.000000','2026-03-02 09:00:00.000000',NULL,0,'run-1');
CREATE TABLE crm_index (
	module VARCHAR NOT NULL, 
	id VARCHAR NOT NULL, 
	owner_id VARCHAR NOT NULL, 
	modified_time DATETIME NOT NULL, 
	phones_json VARCHAR NOT NULL, 
	phone_keys VARCHAR NOT NULL, 
	converted BOOLEAN NOT NULL, 
	converted_contact_id VARCHAR, 
	converted_deal_id VARCHAR, 
	converted_at DATETIME, 
	stage VARCHAR, 
	amount FLOAT, 
	closing_date VARCHAR, 
	contact_id VARCHAR, 
	name VARCHAR, 
	lead_status VARCHAR, 
	utm_json VARCHAR NOT NULL, 
	sync_key VARCHAR, 
	deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (module, id)
);
INSERT INTO "crm_index" VALUES('Leads','5000000000000009001','1','2026-03-02 09:00:00.000000','[]',' 380501112233 ',0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{}','release1-a/lead',0);
CREATE TABLE crm_writes (
	sync_key VARCHAR NOT NULL, 
	uniqueid VARCHAR NOT NULL, 
	module VARCHAR NOT NULL, 
	op VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	owner_id VARCHAR, 
	target_id VARCHAR, 
	zoho_id VARCHAR, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	error_code VARCHAR, 
	error_message VARCHAR, 
	payload_json VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (sync_key)
);
INSERT INTO "crm_writes" VALUES('release1-a/lead','release1-a','Leads','insert','lead',NULL,NULL,'5000000000000009001','success',1,NULL,NULL,'{}','2026-03-02 09:00:00.000000','2026-03-02 09:00:00.000000');
CREATE TABLE cursors (
	name VARCHAR NOT NULL, 
	position DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "cursors" VALUES('ingest','2026-03-02 09:00:00.000000','2026-03-02 09:00:00.000000');
CREATE TABLE quarantine (
	row_hash VARCHAR NOT NULL, 
	uniqueid VARCHAR, 
	reason VARCHAR NOT NULL, 
	detail VARCHAR NOT NULL, 
	raw_json VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	requeued_at DATETIME, 
	PRIMARY KEY (row_hash)
);
INSERT INTO "quarantine" VALUES('a21f6bcfadc9ee9e8143ee63a0bb9a0518ef062f829a65519fcc05bf76e7654d',NULL,'missing_call_id','the row has no uniqueid','{"calldate":"2026-03-02 10:06:00"}','2026-03-02 09:00:00.000000',NULL);
CREATE TABLE run_leases (
	name VARCHAR NOT NULL, 
	holder VARCHAR, 
	label VARCHAR, 
	acquired_at DATETIME, 
	heartbeat_at DATETIME, 
	expires_at DATETIME, 
	PRIMARY KEY (name)
);
INSERT INTO "run_leases" VALUES('callsync:runs',NULL,NULL,NULL,NULL,NULL);
CREATE TABLE runs (
	run_id VARCHAR NOT NULL, 
	flow VARCHAR NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	window_start DATETIME, 
	window_end DATETIME, 
	status VARCHAR NOT NULL, 
	summary_json VARCHAR NOT NULL, 
	PRIMARY KEY (run_id)
);
INSERT INTO "runs" VALUES('run-1','sync','2026-03-02 09:00:00.000000',NULL,NULL,NULL,'success','{}');
CREATE TABLE webhook_inbox (
	event_key VARCHAR NOT NULL, 
	event VARCHAR NOT NULL, 
	uniqueid VARCHAR NOT NULL, 
	row_json VARCHAR NOT NULL, 
	received_at DATETIME NOT NULL, 
	status VARCHAR NOT NULL, 
	outcome VARCHAR, 
	detail VARCHAR, 
	zoho_id VARCHAR, 
	attempts INTEGER NOT NULL, 
	processed_at DATETIME, 
	PRIMARY KEY (event_key)
);
INSERT INTO "webhook_inbox" VALUES('pickup:release1-c','pickup','release1-c','{}','2026-03-02 09:00:00.000000','done','lead_created',NULL,NULL,1,NULL);
CREATE TABLE zoho_tokens (
	name VARCHAR NOT NULL, 
	token_enc VARCHAR, 
	fingerprint VARCHAR, 
	api_domain VARCHAR, 
	expires_at DATETIME, 
	minted_at DATETIME, 
	mints INTEGER NOT NULL, 
	refresh_owner VARCHAR, 
	refresh_until DATETIME, 
	PRIMARY KEY (name)
);
INSERT INTO "zoho_tokens" VALUES('zoho:release1','sealed','fp','https://www.zohoapis.eu','2026-03-02 09:55:00.000000','2026-03-02 09:00:00.000000',3,NULL,NULL);
CREATE TABLE zoho_users (
	id VARCHAR NOT NULL, 
	email VARCHAR NOT NULL, 
	full_name VARCHAR NOT NULL, 
	active BOOLEAN NOT NULL, 
	role VARCHAR, 
	PRIMARY KEY (id)
);
INSERT INTO "zoho_users" VALUES('1','top@acme.test','Tamara Top',1,NULL);
CREATE INDEX ix_calls_reason ON calls (reason);
CREATE INDEX ix_calls_started_at ON calls (started_at);
CREATE INDEX ix_calls_status ON calls (status);
CREATE INDEX ix_calls_phone_key ON calls (phone_key);
CREATE INDEX ix_crm_writes_status ON crm_writes (status);
CREATE INDEX ix_crm_writes_zoho_id ON crm_writes (zoho_id);
CREATE INDEX ix_crm_writes_uniqueid ON crm_writes (uniqueid);
CREATE INDEX ix_quarantine_reason ON quarantine (reason);
CREATE INDEX ix_quarantine_uniqueid ON quarantine (uniqueid);
CREATE INDEX ix_crm_index_phone_keys ON crm_index (phone_keys);
CREATE INDEX ix_webhook_inbox_event ON webhook_inbox (event);
CREATE INDEX ix_webhook_inbox_status ON webhook_inbox (status);
CREATE INDEX ix_webhook_inbox_uniqueid ON webhook_inbox (uniqueid);
COMMIT;
