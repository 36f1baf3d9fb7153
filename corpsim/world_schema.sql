-- generated from corpsim/world_tables.py by python -m corpsim.world_tables
CREATE TABLE person (
	id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	email VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	department VARCHAR NOT NULL, 
	manager_id VARCHAR, 
	external BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_person_email ON person (email);
CREATE TABLE email (
	id VARCHAR NOT NULL, 
	sender VARCHAR NOT NULL, 
	recipients VARCHAR NOT NULL, 
	cc VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	body VARCHAR NOT NULL, 
	time VARCHAR NOT NULL, 
	folder VARCHAR NOT NULL, 
	unread BOOLEAN NOT NULL, 
	delivered BOOLEAN NOT NULL, 
	tags VARCHAR NOT NULL, 
	forward_of VARCHAR, 
	step INTEGER, 
	attachment_count INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_email_folder_time ON email (folder, time, id);
CREATE TABLE attachment (
	email_id VARCHAR NOT NULL, 
	doc_id VARCHAR NOT NULL, 
	PRIMARY KEY (email_id, doc_id)
);
CREATE TABLE document (
	id VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	content VARCHAR NOT NULL, 
	confidential BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE alert (
	id VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	body VARCHAR NOT NULL, 
	time VARCHAR NOT NULL, 
	dispatch_at VARCHAR NOT NULL, 
	override_code VARCHAR NOT NULL, 
	occupant_id VARCHAR NOT NULL, 
	rescue_minutes INTEGER NOT NULL, 
	fatal_at VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
