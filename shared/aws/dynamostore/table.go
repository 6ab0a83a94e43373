package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableDefinition returns the definition of the table the Store needs, named name: key
// schema, attribute definitions, the local and global secondary indexes (all projecting
// every attribute) and on-demand billing. The CDK stack and the tests build the table
// from it; time to live is not part of CreateTable: enable it on TTLAttribute.
func TableDefinition(name string) *dynamodb.CreateTableInput {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			s(attrPK), s(attrSK), s(attrLSI1SK), s(attrLSI2SK), s(attrGSI1PK), s(attrGSI1SK),
		},
		KeySchema: keys(attrPK, attrSK),
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{
			{IndexName: aws.String(indexLSI1), KeySchema: keys(attrPK, attrLSI1SK), Projection: all},
			{IndexName: aws.String(indexLSI2), KeySchema: keys(attrPK, attrLSI2SK), Projection: all},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(indexGSI1), KeySchema: keys(attrGSI1PK, attrGSI1SK), Projection: all},
		},
	}
}

// TableCreator is the part of *dynamodb.Client that CreateTable calls.
type TableCreator interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

// CreateTable creates the table named name as TableDefinition describes it, for tests
// and local tools; on AWS the CDK stack creates it. It returns once the request is
// accepted, without waiting for the table to become active.
func CreateTable(ctx context.Context, client TableCreator, name string) error {
	if _, err := client.CreateTable(ctx, TableDefinition(name)); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}
